//! `vanta-ops` against moto (DynamoDB, SQS, SSM, SNS, CloudFormation) and the fakes (Veranta,
//! Telegram, KMS, a Pyth Hermes, the stack's CloudWatch alarms): preflight once all-go and once for each no-go, the
//! LIVE switch refused on a no-go, the stop and resume written as the bot writes them, an
//! ambiguous intent resolved, the backup and the point-in-time restore into a new table that the
//! CLI and the store then read, `--stack` reading a stack's outputs, and every command of
//! RUNBOOK.md checked against the tools.
//!
//! CloudWatch alarms come from [`FakeAlarms`] through the CLI's `AlarmSource` seam: moto 5.2
//! understands CloudWatch's query protocol only and the CloudWatch SDK speaks CBOR. The fake holds
//! the alarms preflight requires; the runbook test checks that list against `template.yaml`'s.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vanta_aws::dynamo::{DynamoStore, create_table};
use vanta_chain::signer::KmsSigner;
use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{ChatId, IntentId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{Action, CreateOutcome, Intent, IntentState, Origin, Transition};
use vanta_domain::ports::{ControlStore, IntentStore, UserStore};
use vanta_domain::time::Timestamp;
use vanta_domain::user::User;
use vanta_domain::wallet::WalletChallenge;
use vanta_ops::preflight;
use vanta_testkit::fake_avantis::FakeAvantis;
use vanta_testkit::fake_kms::FakeKms;
use vanta_testkit::fake_telegram::FakeTelegram;
use vanta_testkit::moto::Moto;
use vanta_testkit::net::repo_root;

const BOT_TOKEN: &str = "123456:AAE-ops-test-token_abcdefghijklmnopq";
const WEBHOOK_SECRET: &str = "ops-test-webhook-secret-0123456789abcdef";
const WEBHOOK_URL: &str = "https://api.example.invalid/telegram";

fn now_s() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// A Pyth Hermes that answers every requested feed id at the price's publish time it holds.
struct FakeHermes {
    url: String,
    publish_time: Arc<Mutex<i64>>,
}

impl FakeHermes {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let publish_time = Arc::new(Mutex::new(now_s()));
        let served = publish_time.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else { return };
                let at = *served.lock().unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&seen);
                    let line = head.lines().next().unwrap_or_default();
                    let ids: Vec<String> = line
                        .split(['?', '&', ' '])
                        .filter_map(|p| p.strip_prefix("ids%5B%5D=").or_else(|| p.strip_prefix("ids[]=")))
                        .map(str::to_owned)
                        .collect();
                    let parsed: Vec<_> = ids
                        .iter()
                        .map(|id| json!({"id": id, "price": {"price": "9500000000000", "conf": "1000000", "expo": -8, "publish_time": at}}))
                        .collect();
                    let body = json!({ "parsed": parsed }).to_string();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Self { url, publish_time }
    }
    fn set_age(&self, secs: i64) {
        *self.publish_time.lock().unwrap() = now_s() - secs;
    }
}

/// One deployment's worth of services, set up so that preflight is all-go.
struct World {
    moto: Moto,
    sdk: aws_config::SdkConfig,
    venue: FakeAvantis,
    telegram: FakeTelegram,
    _kms: FakeKms,
    hermes: FakeHermes,
    store: DynamoStore,
    env: BTreeMap<String, String>,
    trader: TraderAddress,
    delegate: TraderAddress,
    topic: String,
    alarms: FakeAlarms,
}

const ALARM_PREFIX: &str = "vanta-ops-test-";

/// The alarms of `template.yaml`: (name after `${AWS::StackName}-`, the runbook anchor its
/// description links to), in template order.
fn template_alarms() -> Vec<(String, String)> {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let mut alarms = Vec::new();
    let mut name: Option<String> = None;
    for line in template.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("AlarmName: !Sub \"${AWS::StackName}-") {
            name = Some(rest.trim_end_matches('"').to_owned());
        } else if let (Some(rest), Some(n)) = (line.strip_prefix("AlarmDescription:"), name.as_ref()) {
            let anchor = rest.trim().trim_end_matches('"').rsplit_once('#').map(|(_, a)| a.to_owned()).unwrap_or_default();
            alarms.push((n.clone(), anchor));
            name = None;
        }
    }
    alarms
}

/// The stack's CloudWatch alarms, as `DescribeAlarms` would return them.
#[derive(Clone, Default)]
struct FakeAlarms(Arc<Mutex<BTreeMap<String, preflight::AlarmInfo>>>);

impl FakeAlarms {
    fn put(&self, name: String, description: String, action: &str) {
        let info = preflight::AlarmInfo { name: name.clone(), actions: vec![action.to_owned()], description };
        self.0.lock().unwrap().insert(name, info);
    }
    fn delete(&self, name: &str) {
        self.0.lock().unwrap().remove(name);
    }
}

#[async_trait::async_trait]
impl preflight::AlarmSource for FakeAlarms {
    async fn describe(&self, names: &[String]) -> Result<Vec<preflight::AlarmInfo>, String> {
        let alarms = self.0.lock().unwrap();
        Ok(names.iter().filter_map(|n| alarms.get(n).cloned()).collect())
    }
}

impl World {
    async fn start() -> Self {
        let moto = Moto::start().await.expect("moto starts");
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .load()
            .await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let table = "vanta-ops-test".to_owned();
        create_table(&dynamo, &table).await.unwrap();
        let store = DynamoStore::new(dynamo.clone(), table.clone());

        let venue = FakeAvantis::start().await.unwrap();
        let telegram = FakeTelegram::start().await.unwrap();
        let kms = FakeKms::start().await.unwrap();
        let hermes = FakeHermes::start().await;
        let key = kms.create_key();
        let kms_client = aws_sdk_kms::Client::from_conf(aws_sdk_kms::config::Builder::from(&sdk).endpoint_url(&kms.endpoint).build());
        let delegate = KmsSigner::new(kms_client, key.clone(), Some(venue.chain_id())).await.unwrap().address();

        // One active user with a verified wallet and a delegation for 30 days.
        let trader: TraderAddress = "0x00000000000000000000000000000000000000a1".parse().unwrap();
        let uid = TelegramUserId(501);
        store.get_or_create_user(User::new(uid, ChatId(501), Timestamp::from_secs(now_s()))).await.unwrap();
        let nonce = "opsnonce000000000000000000000001".to_owned();
        let now = Timestamp::from_secs(now_s());
        store
            .put_challenge(&WalletChallenge {
                nonce: nonce.clone(),
                user: uid,
                address: trader,
                message: "sign in".into(),
                issued_at: now,
                expires_at: now.plus(std::time::Duration::from_secs(600)),
                used: false,
            })
            .await
            .unwrap();
        store.verify_binding(&nonce, uid, now).await.unwrap();
        venue.set_delegate(trader.address(), delegate.address(), true, u64::try_from(now_s() + 30 * 86_400).unwrap());

        // Queues, the alarm topic with a Telegram (lambda) and an e-mail subscription, the alarms.
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let dlq = |name: &'static str| {
            let sqs = sqs.clone();
            async move { sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_owned() }
        };
        let signals_dlq = dlq("ops-signals-dlq").await;
        let notifications_dlq = dlq("ops-notifications-dlq").await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let topic = sns.create_topic().name("ops-alarms").send().await.unwrap().topic_arn().unwrap().to_owned();
        let world_env = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        for (name, value) in
            [("/vanta/ops-test/telegram-bot-token", BOT_TOKEN), ("/vanta/ops-test/telegram-webhook-secret", WEBHOOK_SECRET)]
        {
            ssm.put_parameter().name(name).value(value).r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.unwrap();
        }
        let urls = venue.urls();
        let env: BTreeMap<String, String> = [
            world_env("AWS_ENDPOINT_URL", &moto.endpoint),
            world_env("AWS_ENDPOINT_URL_KMS", &kms.endpoint),
            world_env("AWS_REGION", "us-east-1"),
            world_env("AWS_ACCESS_KEY_ID", "test"),
            world_env("AWS_SECRET_ACCESS_KEY", "test"),
            world_env("TABLE_NAME", &table),
            world_env("SIGNALS_DLQ_URL", &signals_dlq),
            world_env("NOTIFICATIONS_DLQ_URL", &notifications_dlq),
            world_env("ALARM_TOPIC_ARN", &topic),
            world_env("VANTA_ALARM_PREFIX", ALARM_PREFIX),
            world_env("TELEGRAM_WEBHOOK_URL", WEBHOOK_URL),
            world_env("TELEGRAM_API_URL", &telegram.url),
            world_env("TELEGRAM_BOT_TOKEN_PARAM", "/vanta/ops-test/telegram-bot-token"),
            world_env("TELEGRAM_WEBHOOK_SECRET_PARAM", "/vanta/ops-test/telegram-webhook-secret"),
            world_env("COPY_EXECUTION_MODE", "LIVE"),
            world_env("ADMIN_USER_IDS", "11"),
            world_env("SUPER_ADMIN_IDS", "12"),
            world_env("KMS_KEY_ID", &key),
            world_env("CHAIN_ID", &venue.chain_id().to_string()),
            world_env("VERANTA_TX_BUILDER_URL", &urls.tx_builder),
            world_env("VERANTA_BATCHED_MARKET_URL", &urls.batched_market),
            world_env("VERANTA_CORE_API_URL", &urls.core),
            world_env("VERANTA_DATA_API_URL", &urls.data),
            world_env("PYTH_HERMES_URL", &hermes.url),
            world_env(
                "VANTA_PINNED_ADDRESSES",
                &format!("tradingRouter={},tradingStorage=0x8a311D7048c35985aa31C131B9A13e03a5f7422d", venue.trading_router()),
            ),
        ]
        .into_iter()
        .collect();
        let w = Self { moto, sdk, venue, telegram, _kms: kms, hermes, store, env, trader, delegate, topic, alarms: FakeAlarms::default() };
        w.put_alarms().await;
        w.subscribe().await;
        // The webhook is registered by the CLI itself.
        let (code, out) = w.ops(&["set-webhook"], &[]).await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(w.telegram.webhook(), Some((WEBHOOK_URL.to_owned(), Some(WEBHOOK_SECRET.to_owned()))));
        assert!(!out.contains(WEBHOOK_SECRET) && !out.contains(BOT_TOKEN), "{out}");
        w
    }

    /// Creates the alarms preflight requires (the template's: checked in the runbook test), each
    /// linking to its runbook section and notifying the alarm topic.
    async fn put_alarms(&self) {
        for (name, anchor) in preflight::REQUIRED_ALARMS {
            let description = format!("What to do: read the runbook. Runbook: https://example.invalid/RUNBOOK.md#{anchor}");
            self.alarms.put(format!("{ALARM_PREFIX}{name}"), description, &self.topic);
        }
    }

    async fn subscribe(&self) {
        let sns = aws_sdk_sns::Client::new(&self.sdk);
        sns.subscribe()
            .topic_arn(&self.topic)
            .protocol("lambda")
            .endpoint("arn:aws:lambda:us-east-1:123456789012:function:vanta-ops-test-notifier")
            .send()
            .await
            .unwrap();
    }

    async fn unsubscribe_all(&self) {
        let sns = aws_sdk_sns::Client::new(&self.sdk);
        let subs = sns.list_subscriptions_by_topic().topic_arn(&self.topic).send().await.unwrap();
        for s in subs.subscriptions() {
            sns.unsubscribe().subscription_arn(s.subscription_arn().unwrap()).send().await.unwrap();
        }
    }

    /// Runs `vanta-ops args` with the world's settings, `overrides` replacing some.
    async fn ops(&self, args: &[&str], overrides: &[(&str, &str)]) -> (i32, String) {
        let mut env = self.env.clone();
        for (k, v) in overrides {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let mut out = String::new();
        let code = vanta_ops::run_with(&args, &|k| env.get(k).cloned(), Some(&self.alarms), &mut out).await;
        (code, out)
    }

    async fn control(&self) -> Option<ExecControl> {
        self.store.get_exec_control().await.unwrap()
    }
}

/// The verdict of `check` in a preflight table.
fn verdict(out: &str, check: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(check) && l.get(check.len()..).is_some_and(|r| r.starts_with("  ")))
        .and_then(|l| l.get(18..).map(|r| r.split_whitespace().next().unwrap_or_default().to_owned()))
        .unwrap_or_else(|| panic!("no row {check} in\n{out}"))
}

/// The breakages, one per no-go row: each makes exactly that check NO-GO, and is undone after.
#[derive(Debug, Clone, Copy)]
enum Break {
    DeploymentDry,
    NoSuperAdmin,
    OperatorLimits,
    ContractMoved,
    DelegationRevoked,
    StalePrices,
    AlarmMissing,
    TopicUnsubscribed,
    WebhookFailing,
    SignalsDlq,
    NotificationsDlq,
}

#[tokio::test]
async fn preflight_is_all_go_then_no_go_for_each_broken_check() {
    let w = World::start().await;

    // All go: every row GO, exit 0.
    let (code, out) = w.ops(&["preflight"], &[]).await;
    assert_eq!(code, 0, "{out}");
    for check in preflight::CHECKS {
        assert_eq!(verdict(&out, check), "GO", "{check}:\n{out}");
    }
    assert!(out.contains("GO: every check passed"), "{out}");
    assert!(!out.contains(BOT_TOKEN) && !out.contains(WEBHOOK_SECRET), "no secret in the table:\n{out}");

    let sqs = aws_sdk_sqs::Client::new(&w.sdk);
    let cases = [
        (Break::DeploymentDry, preflight::EXEC_MODE, "redeploy with ExecutionMode=LIVE"),
        (Break::NoSuperAdmin, preflight::ADMIN_IDS, "SuperAdminIds is empty"),
        (Break::OperatorLimits, preflight::OPERATOR_LIMITS, "max price age"),
        (Break::ContractMoved, preflight::CONTRACTS, "tradingRouter is 0x"),
        (Break::DelegationRevoked, preflight::DELEGATIONS, "no usable delegation"),
        (Break::StalePrices, preflight::PRICE_FEEDS, "s old (max 30s)"),
        (Break::AlarmMissing, preflight::ALARMS, "missing: vanta-ops-test-stale-prices"),
        (Break::TopicUnsubscribed, preflight::ALARM_TOPIC, "alarms reach nobody"),
        (Break::WebhookFailing, preflight::TELEGRAM_WEBHOOK, "401 Unauthorized"),
        (Break::SignalsDlq, preflight::SIGNALS_DLQ, "1 message(s) parked"),
        (Break::NotificationsDlq, preflight::NOTIFICATIONS_DLQ, "1 message(s) parked"),
    ];
    let full_dlq = sqs.create_queue().queue_name("ops-full-dlq").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&full_dlq).message_body("{}").send().await.unwrap();
    for (brk, check, why) in cases {
        let mut overrides: Vec<(&str, &str)> = Vec::new();
        match brk {
            Break::DeploymentDry => overrides.push(("COPY_EXECUTION_MODE", "DRY")),
            Break::NoSuperAdmin => overrides.push(("SUPER_ADMIN_IDS", "")),
            Break::OperatorLimits => {}
            Break::ContractMoved => w.venue.set_trading_router("0x00000000000000000000000000000000000000b2".parse().unwrap()),
            Break::DelegationRevoked => w.venue.set_delegate(w.trader.address(), w.delegate.address(), false, 0),
            Break::StalePrices => w.hermes.set_age(120),
            Break::AlarmMissing => {
                w.alarms.delete(&format!("{ALARM_PREFIX}stale-prices"));
            }
            Break::TopicUnsubscribed => w.unsubscribe_all().await,
            Break::WebhookFailing => w.telegram.set_webhook_error(Some("Wrong response from the webhook: 401 Unauthorized")),
            Break::SignalsDlq => overrides.push(("SIGNALS_DLQ_URL", full_dlq.as_str())),
            Break::NotificationsDlq => overrides.push(("NOTIFICATIONS_DLQ_URL", full_dlq.as_str())),
        }
        let (code, out) = if let Break::OperatorLimits = brk {
            // The limits come through a seam; an out-of-bounds value must stop LIVE.
            let mut env = w.env.clone();
            env.retain(|_, v| !v.is_empty());
            let s = vanta_ops::settings::Settings::resolve(None, BTreeMap::new(), &|k| env.get(k).cloned()).unwrap();
            let sdk = vanta_ops::settings::sdk_config(&|k| env.get(k).cloned()).await;
            let limits = vanta_domain::risk::OperatorLimits { max_price_age_secs: 600, ..Default::default() };
            let r = preflight::run(&preflight::Inputs {
                settings: &s,
                sdk: &sdk,
                store: &w.store,
                now: Timestamp::from_secs(now_s()),
                limits: Ok(limits),
                alarms: &w.alarms,
            })
            .await;
            (if r.go() { 0 } else { 1 }, r.render())
        } else {
            w.ops(&["preflight"], &overrides).await
        };
        assert_eq!(code, 1, "{brk:?} must fail preflight:\n{out}");
        assert_eq!(verdict(&out, check), "NO-GO", "{brk:?}:\n{out}");
        let row = out.lines().find(|l| l.starts_with(check)).unwrap();
        assert!(row.contains(why), "{brk:?}: the row says why ({why}):\n{row}");
        for other in preflight::CHECKS.iter().filter(|c| **c != check) {
            assert_ne!(verdict(&out, other), "NO-GO", "{brk:?} breaks only {check}, not {other}:\n{out}");
        }
        // Undo.
        match brk {
            Break::ContractMoved => w.venue.set_trading_router(vanta_testkit::fake_avantis::FAKE_TRADING_ROUTER),
            Break::DelegationRevoked => {
                w.venue.set_delegate(w.trader.address(), w.delegate.address(), true, u64::try_from(now_s() + 30 * 86_400).unwrap());
            }
            Break::StalePrices => w.hermes.set_age(0),
            Break::AlarmMissing => w.put_alarms().await,
            Break::TopicUnsubscribed => w.subscribe().await,
            Break::WebhookFailing => w.telegram.set_webhook_error(None),
            _ => {}
        }
    }

    // Warnings do not block: a delegation expiring in 2 days, alarms reaching e-mail only.
    w.venue.set_delegate(w.trader.address(), w.delegate.address(), true, u64::try_from(now_s() + 2 * 86_400).unwrap());
    let (code, out) = w.ops(&["preflight"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(verdict(&out, preflight::DELEGATIONS), "WARN", "{out}");
    w.venue.set_delegate(w.trader.address(), w.delegate.address(), true, u64::try_from(now_s() + 30 * 86_400).unwrap());

    // The table unreadable: the exec mode is NO-GO (every function would run DRY).
    let (code, out) = w.ops(&["preflight"], &[("TABLE_NAME", "no-such-table")]).await;
    assert_eq!(code, 1);
    assert_eq!(verdict(&out, preflight::EXEC_MODE), "NO-GO", "{out}");

    // Back to all go.
    let (code, out) = w.ops(&["preflight"], &[]).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn exec_mode_stop_and_resume_write_the_item_as_the_bot_does() {
    let w = World::start().await;
    assert_eq!(w.control().await, None);

    // DRY needs no confirmation; the item is created at version 1 with its time.
    let (code, out) = w.ops(&["exec-mode", "DRY"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let c = w.control().await.unwrap();
    assert_eq!((c.mode, c.stop, c.version, c.updated_by), (ExecMode::Dry, StopLevel::None, 1, None));
    assert!(out.contains("exec mode: not set (DRY) -> DRY / stop NONE (v1)"), "{out}");

    // LIVE without --yes: nothing changes.
    let (code, out) = w.ops(&["exec-mode", "LIVE"], &[]).await;
    assert_eq!(code, 2, "{out}");
    assert_eq!(w.control().await.unwrap().version, 1);

    // LIVE with --yes while preflight has a no-go: refused, the table shows why.
    let (code, out) = w.ops(&["exec-mode", "LIVE", "--yes"], &[("SUPER_ADMIN_IDS", "")]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refused") && out.contains("NO-GO: admin ids"), "{out}");
    assert_eq!(w.control().await.unwrap().mode, ExecMode::Dry);

    // All go: LIVE is stored, version 2.
    let (code, out) = w.ops(&["exec-mode", "LIVE", "--yes"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let c = w.control().await.unwrap();
    assert_eq!((c.mode, c.version), (ExecMode::Live, 2));
    assert!(out.contains("effective: LIVE / stop NONE"), "{out}");

    // The stop, three levels, each a new version; the mode is kept.
    let (code, out) = w.ops(&["stop"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(w.control().await.unwrap().stop, StopLevel::PauseEntries);
    let (code, out) = w.ops(&["stop", "flatten"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let c = w.control().await.unwrap();
    assert_eq!((c.mode, c.stop, c.version), (ExecMode::Live, StopLevel::Flatten, 4));
    assert!(out.contains("the tpsl tick starts the closing sweep"), "{out}");
    let (_, status) = w.ops(&["status"], &[]).await;
    assert!(status.contains("stored exec_mode: LIVE / stop FLATTEN (version 4"), "{status}");
    assert!(status.contains("effective:        LIVE / stop FLATTEN"), "{status}");
    let (code, out) = w.ops(&["resume"], &[("EMERGENCY_STOP", "true")]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("still sets EMERGENCY_STOP"), "{out}");
    assert_eq!(w.control().await.unwrap().stop, StopLevel::None);

    // A write from a stale read loses: the store's optimistic lock holds for the CLI too.
    let stale = ExecControl { version: 3, ..w.control().await.unwrap() };
    assert!(w.store.put_exec_control(&stale).await.is_err());

    // Unknown input is a usage error, never a write.
    for args in [vec!["exec-mode", "MAYBE"], vec!["stop", "now"], vec!["frobnicate"], vec!["resume", "--force"]] {
        let (code, out) = w.ops(&args, &[]).await;
        assert_eq!(code, 2, "{args:?}: {out}");
    }
    assert_eq!(w.control().await.unwrap().version, 5);
}

#[tokio::test]
async fn resolve_intent_shows_the_trail_and_records_not_executed() {
    let w = World::start().await;
    let now = Timestamp::from_secs(now_s());
    let id = IntentId::parse("tg-ops-ambiguous-1").unwrap();
    let intent = Intent::new(id.clone(), TelegramUserId(501), Origin::Telegram { update_id: 9 }, Action::Flatten, "h".into(), now);
    assert!(matches!(w.store.create_intent(&intent).await.unwrap(), CreateOutcome::Created));
    for (from, to) in [
        (IntentState::Received, IntentState::Validated),
        (IntentState::Validated, IntentState::Submitted),
        (IntentState::Submitted, IntentState::Ambiguous),
    ] {
        w.store.transition(&id, &Transition::new(from, to, now).unwrap().with_reason("venue timed out")).await.unwrap();
    }

    let (code, out) = w.ops(&["resolve-intent", id.as_str()], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("state AMBIGUOUS") && out.contains("AMBIGUOUS") && out.contains("--not-executed"), "{out}");

    let (code, _) = w.ops(&["resolve-intent", id.as_str(), "--not-executed", "not in history"], &[]).await;
    assert_eq!(code, 2, "needs --yes");
    assert_eq!(w.store.get_intent(&id).await.unwrap().unwrap().state, IntentState::Ambiguous);

    let (code, out) = w.ops(&["resolve-intent", id.as_str(), "--not-executed", "not in history at 21:40", "--yes"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(w.store.get_intent(&id).await.unwrap().unwrap().state, IntentState::Failed);
    let trail = w.store.audit_trail(&id).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.state, IntentState::Failed);
    assert!(last.reason.as_deref().unwrap().contains("not in history at 21:40"), "{last:?}");

    // A final intent is not resolved again; an unknown one is an error.
    let (code, out) = w.ops(&["resolve-intent", id.as_str(), "--not-executed", "again", "--yes"], &[]).await;
    assert_eq!(code, 1, "{out}");
    let (code, out) = w.ops(&["resolve-intent", "no-such-intent"], &[]).await;
    assert_eq!(code, 1, "{out}");
}

#[tokio::test]
async fn backup_and_point_in_time_restore_into_a_new_table_that_the_cli_and_store_read() {
    let w = World::start().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&w.sdk);
    let table = w.env["TABLE_NAME"].clone();
    // Data to get back: the exec-mode item and a user.
    let (code, out) = w.ops(&["stop", "flatten"], &[]).await;
    assert_eq!(code, 0, "{out}");

    // Without point-in-time recovery the restore refuses and says what to do instead.
    let (code, out) = w.ops(&["restore", "--to-time", "2026-01-01T00:00:00Z"], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("point-in-time recovery is not enabled") && out.contains("list-backups"), "{out}");

    dynamo
        .update_continuous_backups()
        .table_name(&table)
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().unwrap(),
        )
        .send()
        .await
        .unwrap();

    let (code, out) = w.ops(&["backup"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let backups = dynamo.list_backups().table_name(&table).send().await.unwrap();
    assert_eq!(backups.backup_summaries().len(), 1, "{out}");

    // A time in the future, a malformed time: refused.
    for t in ["2999-01-01T00:00:00Z", "yesterday", "2026-02-31T00:00:00Z"] {
        let (code, out) = w.ops(&["restore", "--to-time", t], &[]).await;
        assert_eq!(code, 1, "{t}: {out}");
    }

    let at = vanta_ops::control::iso(Timestamp::from_secs(now_s()));
    let (code, out) = w.ops(&["restore", "--to-time", &at], &[]).await;
    assert_eq!(code, 0, "{out}");
    let new_table =
        format!("{table}-pitr-{}", vanta_ops::restore::compact(vanta_ops::restore::parse_time(&at).unwrap())).to_ascii_lowercase();
    assert!(out.contains(&format!("sam deploy --parameter-overrides TableName={new_table}")), "{out}");
    assert!(out.contains(&format!("make deploy PARAMS=\"TableName={new_table}\"")), "the make form too: {out}");

    // The restored table has its settings back.
    let d = dynamo.describe_table().table_name(&new_table).send().await.unwrap();
    assert_eq!(d.table().unwrap().deletion_protection_enabled(), Some(true));
    let pitr = dynamo.describe_continuous_backups().table_name(&new_table).send().await.unwrap();
    assert_eq!(
        pitr.continuous_backups_description().unwrap().point_in_time_recovery_description().unwrap().point_in_time_recovery_status(),
        Some(&aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Enabled)
    );
    let ttl = dynamo.describe_time_to_live().table_name(&new_table).send().await.unwrap();
    assert_eq!(ttl.time_to_live_description().unwrap().attribute_name(), Some("ttl"));

    // Switch: the store and the CLI read the data back from the new table.
    let restored = DynamoStore::new(dynamo.clone(), new_table.clone());
    let c = restored.get_exec_control().await.unwrap().unwrap();
    assert_eq!(c.stop, StopLevel::Flatten);
    let u = restored.get_user(TelegramUserId(501)).await.unwrap().unwrap();
    assert_eq!(u.trader, Some(w.trader));
    let (code, status) = w.ops(&["status"], &[("TABLE_NAME", &new_table)]).await;
    assert_eq!(code, 0, "{status}");
    assert!(status.contains(&format!("table:            {new_table}")) && status.contains("stop FLATTEN"), "{status}");
    // Writes go to the new table only.
    let (code, out) = w.ops(&["resume"], &[("TABLE_NAME", &new_table)]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(restored.get_exec_control().await.unwrap().unwrap().stop, StopLevel::None);
    assert_eq!(w.control().await.unwrap().stop, StopLevel::Flatten);

    // The same name again: refused (a restore never overwrites a table).
    let (code, out) = w.ops(&["restore", "--to-time", &at], &[]).await;
    assert_eq!(code, 1, "{out}");
    // Settings only, on a table that has them: idempotent.
    let (code, out) = w.ops(&["restore", "--target", &new_table, "--settings-only"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("sam deploy --parameter-overrides TableName={new_table}")), "{out}");
}

#[tokio::test]
async fn stack_outputs_and_parameters_are_read_with_dash_dash_stack() {
    let w = World::start().await;
    let cfn = aws_sdk_cloudformation::Client::new(&w.sdk);
    let table = w.env["TABLE_NAME"].clone();
    let template = json!({
        "Parameters": {
            "ExecutionMode": {"Type": "String", "Default": "DRY"},
            "SuperAdminIds": {"Type": "String", "Default": ""},
        },
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TableName": {"Value": table},
            "SignalsDeadLetterQueueUrl": {"Value": w.env["SIGNALS_DLQ_URL"]},
            "AlarmTopicArn": {"Value": w.topic},
        },
    });
    cfn.create_stack()
        .stack_name("ops-stack")
        .template_body(template.to_string())
        .parameters(aws_sdk_cloudformation::types::Parameter::builder().parameter_key("ExecutionMode").parameter_value("LIVE").build())
        .parameters(aws_sdk_cloudformation::types::Parameter::builder().parameter_key("SuperAdminIds").parameter_value("77").build())
        .send()
        .await
        .unwrap();
    // The environment says otherwise; the stack wins.
    let (code, out) = w.ops(&["--stack", "ops-stack", "status"], &[("TABLE_NAME", "wrong-table"), ("COPY_EXECUTION_MODE", "DRY")]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("stack:            ops-stack"), "{out}");
    assert!(out.contains(&format!("table:            {table}")), "{out}");
    assert!(out.contains("COPY_EXECUTION_MODE=LIVE"), "{out}");
    let (code, out) = w.ops(&["--stack", "no-such-stack", "status"], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot read stack no-such-stack"), "{out}");
    drop(w.moto);
}

// ------------------------------------------------------------------------------ RUNBOOK.md

/// Shell-like words: quotes group, `\` joins lines.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every command of RUNBOOK.md: the lines of its `sh` blocks and its inline `vanta-ops …`,
/// `make …`, `aws …` and `sam …` spans.
fn runbook_commands(text: &str) -> Vec<String> {
    let mut cmds = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_block = !in_block && t == "```sh";
            continue;
        }
        if in_block {
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            pending.push_str(t.trim_end_matches('\\'));
            pending.push(' ');
            if !t.ends_with('\\') {
                cmds.push(std::mem::take(&mut pending).trim().to_owned());
            }
            continue;
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && ["vanta-ops ", "make ", "aws ", "sam "].iter().any(|p| span.starts_with(p)) {
                cmds.push(span.to_owned());
            }
        }
    }
    cmds
}

#[tokio::test]
async fn every_runbook_command_is_a_known_command_and_every_alarm_anchor_exists() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("RUNBOOK.md")).unwrap();
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();

    // The anchors alarms link to.
    for anchor in [
        "stale-prices",
        "schedule-missed",
        "ambiguous-intents",
        "dlq-not-empty",
        "emergency-stop",
        "delegation-expiry",
        "function-errors",
        "low-success-rate",
        "go-no-go",
    ] {
        assert!(text.contains(&format!("<a id=\"{anchor}\"></a>")), "RUNBOOK.md has no #{anchor}");
    }
    for (_, anchor) in preflight::REQUIRED_ALARMS {
        assert!(text.contains(&format!("<a id=\"{anchor}\"></a>")), "a required alarm links to #{anchor}, which RUNBOOK.md lacks");
    }
    // Every alarm the template declares is one preflight requires, linking to the same runbook
    // section (the template's descriptions end `Runbook: ${RunbookUrl}#<anchor>`).
    for (name, anchor) in template_alarms() {
        let required = preflight::REQUIRED_ALARMS.iter().find(|(n, _)| *n == name);
        assert!(required.is_some(), "template.yaml's alarm {name} is not in preflight::REQUIRED_ALARMS");
        if !anchor.is_empty() {
            assert_eq!(required.map(|(_, a)| *a), Some(anchor.as_str()), "{name} links to #{anchor} in template.yaml");
        }
    }

    // The old runbook's sections.
    for section in [
        "## Pre-deployment checklist",
        "## Deploy",
        "## Health verification",
        "## Monitoring setup",
        "## Go/no-go: DRY to LIVE",
        "## Emergency stop",
        "## Rollback",
        "## Restore",
        "### Service won't start",
        "### Store errors",
        "### RPC and venue errors",
        "### Transaction failures",
        "### Stale prices",
        "### Stuck queue and DLQ not empty",
        "### A user's trade is missing",
        "## Performance tuning",
        "## Routine maintenance",
        "## Escalation",
    ] {
        assert!(text.lines().any(|l| l == section), "RUNBOOK.md lacks {section}");
    }

    let commands = runbook_commands(&text);
    assert!(commands.len() > 30, "{commands:?}");
    let (mut aws, mut sam) = (Vec::new(), std::collections::BTreeSet::new());
    let mut seen_ops = std::collections::BTreeSet::new();
    for cmd in &commands {
        let mut w = words(cmd);
        // `export NAME=value` and `NAME=value cmd`.
        if w.first().map(String::as_str) == Some("export") {
            assert!(w.len() == 2 && w[1].contains('='), "{cmd}");
            continue;
        }
        while w.first().is_some_and(|x| x.contains('=') && !x.starts_with('-')) {
            w.remove(0);
        }
        let (tool, rest) = w.split_first().unwrap_or_else(|| panic!("empty command {cmd:?}"));
        match tool.as_str() {
            "vanta-ops" => {
                let args: Vec<String> = rest.to_vec();
                match vanta_ops::cli::parse(&args) {
                    Ok(vanta_ops::cli::Parsed::Run { command, .. }) => {
                        seen_ops.insert(format!("{command:?}").split([' ', '{']).next().unwrap().to_owned());
                    }
                    Ok(vanta_ops::cli::Parsed::Help(_)) => {}
                    Err(e) => panic!("RUNBOOK.md: `{cmd}` does not parse: {e}"),
                }
                let sub: Vec<String> = rest.iter().filter(|a| !a.starts_with("--stack") && *a != "$STACK").take(1).cloned().collect();
                if let Some(s) = sub.first().filter(|s| !s.starts_with('-')) {
                    let help = vanta_ops::cli::parse(&[s.clone(), "--help".into()]);
                    assert!(matches!(help, Ok(vanta_ops::cli::Parsed::Help(_))), "`vanta-ops {s} --help`: {help:?}");
                }
            }
            "make" => {
                for target in rest.iter().filter(|a| !a.contains('=')) {
                    assert!(
                        makefile.lines().any(|l| l.starts_with(&format!("{target}:"))),
                        "RUNBOOK.md: make {target} is not a Makefile target"
                    );
                }
            }
            "aws" => {
                assert!(rest.len() >= 2, "{cmd}");
                aws.push((rest[0].clone(), rest[1].clone(), cmd.clone()));
            }
            "sam" => {
                sam.insert(rest.first().cloned().unwrap_or_default());
            }
            "cargo" => assert!(cmd.contains("-p vanta-ops"), "only the CLI's build: {cmd}"),
            "curl" => {
                let url = rest.iter().find(|a| a.contains("$API")).unwrap_or_else(|| panic!("{cmd}"));
                let path = url.trim_start_matches("$API");
                assert!(template.contains(&format!("Path: {path} ")), "RUNBOOK.md: {path} is not a route of the stack");
            }
            other => panic!("RUNBOOK.md: `{cmd}`: {other} is not a vanta-ops, make, aws, sam or curl command"),
        }
    }
    for c in ["Status", "Preflight", "ExecMode", "Stop", "Resume", "ResolveIntent", "Backup", "Restore", "SetWebhook"] {
        assert!(seen_ops.contains(c), "RUNBOOK.md never shows vanta-ops {c}: {seen_ops:?}");
    }

    // aws and sam: against the tools' own command lists (botocore's service models, `sam --help`),
    // from the venv `make tools` installs.
    let moto = std::env::var("VANTA_MOTO_SERVER").map(std::path::PathBuf::from).unwrap_or_else(|_| root.join(".venv/bin/moto_server"));
    let python = moto.with_file_name("python");
    let sam_bin = moto.with_file_name("sam");
    if !python.exists() || !sam_bin.exists() {
        eprintln!("ignored: the aws and sam commands need the venv of `make tools` ({})", python.display());
        return;
    }
    // The AWS CLI's own commands that are not API operations.
    const CUSTOM: &[(&str, &str)] = &[("logs", "tail")];
    let pairs: Vec<(String, String)> =
        aws.iter().filter(|(s, o, _)| !CUSTOM.contains(&(s.as_str(), o.as_str()))).map(|(s, o, _)| (s.clone(), o.clone())).collect();
    let script = "import sys, json, botocore.session\nfrom botocore import xform_name\ns = botocore.session.get_session()\nbad = []\nfor svc, op in json.load(sys.stdin):\n    ops = {xform_name(n, '-') for n in s.get_service_model(svc).operation_names}\n    if op not in ops: bad.append(svc + ' ' + op)\nprint(json.dumps(bad))\n";
    let mut child = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(serde_json::to_string(&pairs).unwrap().as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "botocore check failed: {}", String::from_utf8_lossy(&out.stderr));
    let bad: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(bad.is_empty(), "RUNBOOK.md names aws commands that do not exist: {bad:?}");
    for sub in &sam {
        let st = tokio::process::Command::new(&sam_bin)
            .args([sub.as_str(), "--help"])
            .env("SAM_CLI_TELEMETRY", "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(st.success(), "RUNBOOK.md: `sam {sub}` is not a SAM CLI command");
    }
}
