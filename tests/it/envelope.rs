//! Signal-source secrets under envelope encryption, end to end on moto (DynamoDB and KMS): the
//! bot creates and rotates sources through `GenerateDataKey`, the table never holds the plain
//! secret, the webhook opens it through `Decrypt` to verify a signed signal, and anything
//! tampered with (the wrapped data key, a ciphertext moved to another source) fails closed.
//! Legacy items with a plain `secret` still verify and are sealed by their next rotation.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use vanta_app::http::testing::{self, TestRequest};
use vanta_app::{Deps, signals, telegram};
use vanta_aws::dynamo::{DynamoStore, create_table};
use vanta_aws::kms_secrets::kms_envelope;
use vanta_domain::ids::{ChatId, IntentId, TelegramUserId};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, PercentP, Usdc};
use vanta_domain::ports::{IntentStore, UserStore};
use vanta_domain::sealed::{NoSourceSecrets, SourceSecrets};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::User;
use vanta_runtime::Config;
use vanta_testkit::moto::Moto;

const T0: i64 = 1_795_852_800_000;
const USER: i64 = 7;
static TABLES: AtomicU32 = AtomicU32::new(0);

type Item = HashMap<String, AttributeValue>;

fn catalog() -> Arc<PairCatalog> {
    let btc = PairInfo {
        index: PairIndex(1),
        symbol: PairSymbol::parse("BTC/USD").unwrap(),
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(75).unwrap(),
        min_position: "100".parse::<Usdc>().unwrap(),
        open_fee: "0.045".parse::<PercentP>().unwrap(),
        close_fee: "0.045".parse::<PercentP>().unwrap(),
        spread: "0.01".parse::<PercentP>().unwrap(),
        max_gain: "2500".parse::<PercentP>().unwrap(),
        max_sl: "80".parse::<PercentP>().unwrap(),
    };
    Arc::new(PairCatalog::new([btc]).unwrap())
}

struct Fx {
    _moto: Moto,
    dynamo: aws_sdk_dynamodb::Client,
    kms: aws_sdk_kms::Client,
    key_arn: String,
    table: String,
    store: Arc<DynamoStore>,
    clock: Arc<ManualClock>,
    updates: AtomicI64,
}

/// One function instance: the bot or the webhook, with its own (cold) data-key cache.
struct Instance {
    deps: Deps,
    chat: Arc<RecordingChat>,
}

impl Fx {
    async fn new() -> Self {
        let moto = Moto::start().await.expect("moto starts");
        let conf = crate::support::sdk_config(&moto.endpoint).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&conf);
        let kms = aws_sdk_kms::Client::new(&conf);
        let table = format!("vanta-envelope-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
        create_table(&dynamo, &table).await.expect("table created");
        let key = kms
            .create_key()
            .key_usage(KeyUsageType::EncryptDecrypt)
            .key_spec(KeySpec::SymmetricDefault)
            .description("source secrets (test)")
            .send()
            .await
            .expect("KMS key created");
        let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
        let store = Arc::new(DynamoStore::new(dynamo.clone(), table.clone()));
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        store.get_or_create_user(User::new(TelegramUserId(USER), ChatId(USER), clock.now())).await.unwrap();
        Self { _moto: moto, dynamo, kms, key_arn, table, store, clock, updates: AtomicI64::new(1) }
    }

    /// A function instance whose source secrets are `secrets`.
    fn instance_with(&self, secrets: Arc<dyn SourceSecrets>) -> Instance {
        let chat = Arc::new(RecordingChat::new());
        let prices = Arc::new(FixedPrices::new());
        let paper = Arc::new(PaperVenue::new(catalog(), prices.clone(), self.clock.clone()));
        let deps = Deps::new(
            Config::from_lookup(|_| None).unwrap(),
            self.store.clone(),
            Arc::new(MemoryQueue::new(self.clock.clone())),
            chat.clone(),
            self.clock.clone(),
            prices,
            paper,
        )
        .with_source_secrets(secrets);
        Instance { deps, chat }
    }

    /// A fresh instance over KMS (as the Lambda wiring builds it).
    fn instance(&self) -> Instance {
        self.instance_with(Arc::new(kms_envelope(self.kms.clone(), self.key_arn.clone(), self.clock.clone())))
    }

    /// Sends `/signals <args>` to the bot and returns its reply.
    async fn bot(&self, bot: &Instance, args: &str) -> String {
        let n = self.updates.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({"update_id": n, "message": {"message_id": n, "date": self.clock.now().secs(),
            "chat": {"id": USER, "type": "private"}, "from": {"id": USER, "is_bot": false, "first_name": "u"},
            "text": format!("/signals {args}")}});
        telegram::process_update(&bot.deps, body.to_string().as_bytes()).await.unwrap();
        bot.chat.sent().last().unwrap().html.clone()
    }

    /// `/signals new|rotate <name>` and the secret the bot showed once.
    async fn issue(&self, bot: &Instance, verb: &str, name: &str) -> String {
        let reply = self.bot(bot, &format!("{verb} {name}")).await;
        let start = reply.find("Secret (HMAC key): <code>").unwrap_or_else(|| panic!("no secret in the reply: {reply}"));
        let rest = &reply[start + "Secret (HMAC key): <code>".len()..];
        rest[..rest.find("</code>").unwrap()].to_owned()
    }

    /// `POST /signals` for `source`, signed with `secret`.
    async fn post(&self, webhook: &Instance, source: &str, id: &str, secret: &str) -> (u16, String) {
        let body = serde_json::json!({"source": source, "id": id, "action": "open", "pair": "BTC/USD", "side": "long",
            "collateral_usdc": "100", "leverage": "5"})
        .to_string();
        let ts = self.clock.now().secs().to_string();
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign(secret, &ts, body.as_bytes()))
            .with_body(body);
        let r = testing::call(&webhook.deps, req).await;
        (r.status, r.body_json().to_string())
    }

    async fn raw_source(&self, name: &str) -> Item {
        self.dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("SOURCE#{name}")))
            .key("sk", AttributeValue::S("SOURCE".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("no item for source {name}"))
    }

    async fn scan(&self) -> Vec<Item> {
        self.dynamo.scan().table_name(&self.table).send().await.unwrap().items.unwrap_or_default()
    }

    async fn set_attr(&self, name: &str, attr: &str, value: AttributeValue) {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("SOURCE#{name}")))
            .key("sk", AttributeValue::S("SOURCE".into()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }

    async fn intent_exists(&self, source: &str, id: &str) -> bool {
        self.store.get_intent(&IntentId::parse(&format!("sig:{source}:{id}")).unwrap()).await.unwrap().is_some()
    }
}

fn blob(item: &Item, name: &str) -> Vec<u8> {
    match item.get(name) {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        other => panic!("{name} is not binary: {other:?}"),
    }
}

/// Whether `needle` appears anywhere in an attribute value (strings, binaries, nested).
fn holds(v: &AttributeValue, needle: &str) -> bool {
    match v {
        AttributeValue::S(s) => s.contains(needle),
        AttributeValue::B(b) => b.as_ref().windows(needle.len()).any(|w| w == needle.as_bytes()),
        AttributeValue::M(m) => m.values().any(|x| holds(x, needle)),
        AttributeValue::L(l) => l.iter().any(|x| holds(x, needle)),
        AttributeValue::Ss(l) => l.iter().any(|s| s.contains(needle)),
        _ => false,
    }
}

fn assert_sealed(item: &Item, secret: &str) {
    assert!(!item.contains_key("secret"), "no plain secret attribute: {:?}", item.keys().collect::<Vec<_>>());
    for attr in ["secret_ct", "secret_nonce", "secret_dk"] {
        assert!(!blob(item, attr).is_empty(), "{attr} is stored");
    }
    assert_eq!(item.get("enc_v"), Some(&AttributeValue::N("1".into())));
    assert_eq!(blob(item, "secret_nonce").len(), 12);
    assert!(item.values().all(|v| !holds(v, secret)), "the secret appears nowhere in the item");
}

#[tokio::test]
async fn dynamo_kms_sealed_sources_verify_and_tampering_fails_closed() {
    let fx = Fx::new().await;
    let bot = fx.instance();
    let secret = fx.issue(&bot, "new", "strat").await;
    assert!(secret.len() >= 32, "a long random secret: {secret}");

    // The table holds the sealed form only: no attribute of any item carries the secret.
    assert_sealed(&fx.raw_source("strat").await, &secret);
    let all = fx.scan().await;
    assert!(!all.is_empty());
    assert!(all.iter().all(|item| item.values().all(|v| !holds(v, &secret))), "the secret is in no item of the table");

    // A webhook instance (its own, cold cache) opens it through KMS Decrypt and accepts.
    let webhook = fx.instance();
    assert_eq!(fx.post(&webhook, "strat", "a1", &secret).await.0, 202);
    assert!(fx.intent_exists("strat", "a1").await);
    assert_eq!(fx.post(&webhook, "strat", "a2", "not-the-secret").await.0, 401, "a wrong signature is still a wrong signature");
    assert!(!fx.intent_exists("strat", "a2").await);

    // The wrapped data key tampered with: refused, nothing accepted, on a cold and a warm instance.
    let good = fx.raw_source("strat").await;
    let mut dk = blob(&good, "secret_dk");
    let mid = dk.len() / 2;
    dk[mid] ^= 0x01;
    fx.set_attr("strat", "secret_dk", AttributeValue::B(Blob::new(dk))).await;
    for (who, instance) in [("cold", fx.instance()), ("warm", webhook)] {
        let (status, body) = fx.post(&instance, "strat", &format!("t-{who}"), &secret).await;
        assert_eq!(status, 500, "{who}: {body}");
        assert!(body.contains("rotate"), "{who}: says what to do: {body}");
        assert!(!body.contains(&secret));
        assert!(!fx.intent_exists("strat", &format!("t-{who}")).await, "{who}: nothing accepted");
    }

    // A sealed secret copied onto another source does not open there (context = its source id).
    let other_secret = fx.issue(&bot, "new", "other").await;
    for attr in ["secret_ct", "secret_nonce", "secret_dk"] {
        fx.set_attr("other", attr, good.get(attr).unwrap().clone()).await;
    }
    let (status, _) = fx.post(&fx.instance(), "other", "moved", &secret).await;
    assert_eq!(status, 500, "strat's sealed secret does not open as other's");
    assert!(!fx.intent_exists("other", "moved").await);
    assert_eq!(fx.post(&fx.instance(), "other", "moved2", &other_secret).await.0, 500);

    // Rotation seals a new secret under a new data key: the broken item is whole again.
    let rotated = fx.issue(&bot, "rotate", "strat").await;
    assert_ne!(rotated, secret);
    let item = fx.raw_source("strat").await;
    assert_sealed(&item, &rotated);
    assert_ne!(blob(&item, "secret_dk"), blob(&good, "secret_dk"), "a fresh data key");
    let webhook = fx.instance();
    assert_eq!(fx.post(&webhook, "strat", "r1", &rotated).await.0, 202);
    assert_eq!(fx.post(&webhook, "strat", "r2", &secret).await.0, 401, "the old secret stopped working");
}

#[tokio::test]
async fn dynamo_a_legacy_plain_secret_verifies_until_its_rotation_seals_it() {
    let fx = Fx::new().await;
    let legacy: Item = [
        ("pk", AttributeValue::S("SOURCE#legacy".into())),
        ("sk", AttributeValue::S("SOURCE".into())),
        ("gsi1pk", AttributeValue::S(format!("USER#{USER}"))),
        ("gsi1sk", AttributeValue::S("SOURCE#legacy".into())),
        ("gsi2pk", AttributeValue::S("TVTOKEN#abc".into())),
        ("gsi2sk", AttributeValue::S("SOURCE".into())),
        ("id", AttributeValue::S("legacy".into())),
        ("owner", AttributeValue::N(USER.to_string())),
        ("secret", AttributeValue::S("old-plain-secret".into())),
        ("tv_token_hash", AttributeValue::S("abc".into())),
        ("active", AttributeValue::Bool(true)),
        ("created_at", AttributeValue::N("1000".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    fx.dynamo.put_item().table_name(&fx.table).set_item(Some(legacy)).send().await.unwrap();

    // It verifies, even on a webhook without any key (the read path needs none).
    assert_eq!(fx.post(&fx.instance(), "legacy", "l1", "old-plain-secret").await.0, 202);
    assert_eq!(fx.post(&fx.instance_with(Arc::new(NoSourceSecrets)), "legacy", "l2", "old-plain-secret").await.0, 202);

    // The next rotation seals it: the plain attribute is gone.
    let bot = fx.instance();
    let rotated = fx.issue(&bot, "rotate", "legacy").await;
    let item = fx.raw_source("legacy").await;
    assert_sealed(&item, &rotated);
    assert!(item.values().all(|v| !holds(v, "old-plain-secret")));
    assert_eq!(fx.post(&fx.instance(), "legacy", "l3", &rotated).await.0, 202);
    assert_eq!(fx.post(&fx.instance(), "legacy", "l4", "old-plain-secret").await.0, 401);
}

#[tokio::test]
async fn dynamo_without_a_key_no_source_is_created_and_sealed_ones_are_not_opened() {
    let fx = Fx::new().await;
    let keyless = fx.instance_with(Arc::new(NoSourceSecrets));
    let reply = fx.bot(&keyless, "new nokey").await;
    assert!(reply.contains("cannot be created"), "{reply}");
    assert!(!reply.contains("Secret (HMAC key)"), "no secret shown for a source that was not stored: {reply}");
    let sources: Vec<Item> =
        fx.scan().await.into_iter().filter(|i| matches!(i.get("pk"), Some(AttributeValue::S(pk)) if pk.starts_with("SOURCE#"))).collect();
    assert!(sources.is_empty(), "nothing stored: {sources:?}");

    // A sealed source on a webhook without the key: 503, nothing accepted.
    let secret = fx.issue(&fx.instance(), "new", "sealed").await;
    let (status, body) = fx.post(&keyless, "sealed", "k1", &secret).await;
    assert_eq!(status, 503, "{body}");
    assert!(!fx.intent_exists("sealed", "k1").await);
    // KMS refusing the key (here: a key that does not exist) is not a pass either.
    let wrong = fx.instance_with(Arc::new(kms_envelope(
        fx.kms.clone(),
        "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
        fx.clock.clone(),
    )));
    let (status, _) = fx.post(&wrong, "sealed", "k2", &secret).await;
    assert!(status >= 500, "{status}");
    assert!(!fx.intent_exists("sealed", "k2").await);
}

// ------------------------------------------------------------------------------ the template

mod template {
    use serde_yaml::Value;

    fn template() -> Value {
        let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
        match v {
            Value::Tagged(t) if t.tag == tag => Some(&t.value),
            _ => None,
        }
    }

    fn statements(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Mapping(m) => {
                if m.contains_key("Action") {
                    out.push(v.clone());
                }
                m.iter().for_each(|(_, x)| statements(x, out));
            }
            Value::Sequence(s) => s.iter().for_each(|x| statements(x, out)),
            Value::Tagged(t) => statements(&t.value, out),
            _ => {}
        }
    }

    fn actions(stmt: &Value) -> Vec<String> {
        match &stmt["Action"] {
            Value::String(s) => vec![s.clone()],
            Value::Sequence(s) => s.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
            other => panic!("unexpected Action {other:?}"),
        }
    }

    fn grants(stmt: &Value, action: &str) -> bool {
        actions(stmt).iter().any(|a| a == action || a == "*" || a == "kms:*" || (a.ends_with('*') && action.starts_with(&a[..a.len() - 1])))
    }

    fn role_names(props: &Value) -> Vec<String> {
        props["Roles"].as_sequence().unwrap().iter().map(|r| tagged(r, "!Ref").and_then(Value::as_str).unwrap().to_owned()).collect()
    }

    #[test]
    fn only_the_bot_makes_data_keys_and_only_the_webhook_opens_them() {
        let t = template();
        let res = t["Resources"].as_mapping().unwrap();
        let key = &t["Resources"]["SourceSecretsKey"];
        assert_eq!(key["Type"], "AWS::KMS::Key");
        assert_eq!(key["Properties"]["KeySpec"], "SYMMETRIC_DEFAULT");
        assert_eq!(key["Properties"]["KeyUsage"], "ENCRYPT_DECRYPT");
        assert_eq!(key["Properties"]["EnableKeyRotation"], Value::Bool(true));

        // Who may use the key, by IAM: exactly one grant each, on exactly this key.
        let mut who: Vec<(String, String)> = Vec::new();
        for (name, r) in res {
            let name = name.as_str().unwrap();
            let mut stmts = Vec::new();
            match r["Type"].as_str() {
                Some("AWS::IAM::Policy") => statements(&r["Properties"]["PolicyDocument"], &mut stmts),
                Some("AWS::Serverless::Function") => {
                    if let Some(p) = r["Properties"].get("Policies") {
                        statements(p, &mut stmts)
                    }
                }
                _ => continue,
            }
            for s in stmts {
                for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
                    if grants(&s, action) {
                        // In a statement of its own: a function's inline policy (its role) or
                        // a policy attached to roles.
                        assert_eq!(actions(&s), [action], "{name}: nothing but {action}");
                        assert_eq!(tagged(&s["Resource"], "!GetAtt").and_then(Value::as_str), Some("SourceSecretsKey.Arn"), "{name}");
                        if r["Type"] == "AWS::Serverless::Function" {
                            who.push((action.to_owned(), format!("{name}Role")));
                        } else {
                            for role in role_names(&r["Properties"]) {
                                who.push((action.to_owned(), role));
                            }
                        }
                    }
                }
            }
        }
        who.sort();
        assert_eq!(
            who,
            [
                ("kms:Decrypt".to_owned(), "WebhookFunctionRole".to_owned()),
                ("kms:GenerateDataKey".to_owned(), "TelegramFunctionRole".to_owned())
            ]
        );

        // The key policy says the same, and only with a source in the encryption context.
        let mut stmts = Vec::new();
        statements(&key["Properties"]["KeyPolicy"], &mut stmts);
        for (action, role) in [("kms:GenerateDataKey", "TelegramFunctionRole.Arn"), ("kms:Decrypt", "WebhookFunctionRole.Arn")] {
            let allowing: Vec<&Value> = stmts.iter().filter(|s| grants(s, action)).collect();
            assert_eq!(allowing.len(), 1, "one statement allows {action}: {allowing:?}");
            let s = allowing[0];
            assert_eq!(actions(s), [action]);
            let arn = &s["Condition"]["ArnEquals"]["aws:PrincipalArn"];
            assert_eq!(tagged(arn, "!GetAtt").and_then(Value::as_str), Some(role), "{action}");
            assert_eq!(s["Condition"]["StringLike"]["kms:EncryptionContext:source"], "?*", "{action} needs a source context");
        }

        // The key's ARN reaches exactly those two functions (not the globals).
        assert!(t["Globals"]["Function"]["Environment"]["Variables"].get("SOURCE_SECRETS_KEY_ID").is_none());
        let mut with_key = Vec::new();
        for (name, r) in res {
            if r["Type"] != "AWS::Serverless::Function" {
                continue;
            }
            if let Some(v) = r["Properties"].get("Environment").and_then(|e| e["Variables"].get("SOURCE_SECRETS_KEY_ID")) {
                assert_eq!(tagged(v, "!GetAtt").and_then(Value::as_str), Some("SourceSecretsKey.Arn"));
                with_key.push(name.as_str().unwrap().to_owned());
            }
        }
        with_key.sort();
        assert_eq!(with_key, ["TelegramFunction", "WebhookFunction"]);
    }
}
