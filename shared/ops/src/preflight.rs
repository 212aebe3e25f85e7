//! The go/no-go list before switching to LIVE, done by a program: each check reads the real
//! thing (the venue's `/v2/meta` and delegations, the price feed, CloudWatch alarms, the SNS
//! topic, Telegram's `getWebhookInfo`, the DLQs, the stored exec mode) and says GO, WARN (look at
//! it, it does not block) or NO-GO (do not go LIVE). `vanta-ops preflight` exits non-zero on any
//! NO-GO, and `vanta-ops exec-mode LIVE` refuses to switch.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use alloy::primitives::Address;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use vanta_chain::avantis::{AvantisClient, AvantisConfig};
use vanta_chain::prices::PythHermes;
use vanta_chain::signer::KmsSigner;
use vanta_domain::exec::{ExecMode, StopLevel, effective_exec};
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::PairSymbol;
use vanta_domain::ports::{ControlStore, Prices};
use vanta_domain::risk::OperatorLimits;
use vanta_domain::time::Timestamp;
use vanta_domain::user::User;

use crate::settings::Settings;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Go,
    /// Worth a look; does not block LIVE.
    Warn,
    NoGo,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Go => "GO",
            Verdict::Warn => "WARN",
            Verdict::NoGo => "NO-GO",
        }
    }
}

/// The checks, in the order they are printed.
pub const CHECKS: &[&str] = &[
    EXEC_MODE,
    ADMIN_IDS,
    OPERATOR_LIMITS,
    CONTRACTS,
    DELEGATIONS,
    PRICE_FEEDS,
    ALARMS,
    ALARM_TOPIC,
    TELEGRAM_WEBHOOK,
    SIGNALS_DLQ,
    NOTIFICATIONS_DLQ,
];
pub const EXEC_MODE: &str = "exec mode";
pub const ADMIN_IDS: &str = "admin ids";
pub const OPERATOR_LIMITS: &str = "operator limits";
pub const CONTRACTS: &str = "contracts";
pub const DELEGATIONS: &str = "delegations";
pub const PRICE_FEEDS: &str = "price feeds";
pub const ALARMS: &str = "alarms";
pub const ALARM_TOPIC: &str = "alarm topic";
pub const TELEGRAM_WEBHOOK: &str = "telegram webhook";
pub const SIGNALS_DLQ: &str = "signals DLQ";
pub const NOTIFICATIONS_DLQ: &str = "notifications DLQ";

/// The alarms preflight requires: the name after the alarm prefix and the RUNBOOK.md section
/// each one's description must link to. These are the `AlarmName`s of `template.yaml`
/// (`${AWS::StackName}-<name>`), so the prefix is the stack name and a dash; `VANTA_ALARM_PREFIX`
/// replaces it (alarms created by hand, another naming scheme).
pub const REQUIRED_ALARMS: &[(&str, &str)] = &[
    ("signals-dlq-not-empty", "dlq-not-empty"),
    ("notifications-dlq-not-empty", "dlq-not-empty"),
    ("signals-queue-backlog", "function-errors"),
    ("signal-worker-throttled", "function-errors"),
    ("tpsl-not-running", "schedule-missed"),
    ("telegram-errors", "function-errors"),
    ("webhook-errors", "function-errors"),
    ("signal-worker-errors", "function-errors"),
    ("notifier-errors", "function-errors"),
    ("tpsl-errors", "function-errors"),
    ("indexer-errors", "function-errors"),
    ("low-success-rate", "low-success-rate"),
    ("stale-prices", "stale-prices"),
    ("tpsl-schedule-missed", "schedule-missed"),
    ("indexer-schedule-missed", "schedule-missed"),
    ("ambiguous-intents", "ambiguous-intents"),
    ("emergency-stop", "emergency-stop"),
    ("delegation-expiry", "delegation-expiry"),
    ("function-throttles", "function-errors"),
];
/// The prefix when neither `VANTA_ALARM_PREFIX` nor a stack name is known (the template's
/// default stack name, `vanta`).
pub const DEFAULT_ALARM_PREFIX: &str = "vanta-";

/// Base mainnet contract addresses `/v2/meta` must report (public, verified on basescan). The
/// trading router, which every intent's EIP-712 domain names, is pinned by the operator
/// (`VANTA_PINNED_ADDRESSES=tradingRouter=0x…`) after checking it: until then `contracts` is
/// NO-GO. `VANTA_PINNED_ADDRESSES` (`name=0x…`, comma-separated) adds or replaces pins.
pub const PINNED_BASE_MAINNET: &[(&str, &str)] = &[
    ("tradingStorage", "0x8a311D7048c35985aa31C131B9A13e03a5f7422d"),
    ("usdc", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
    ("referral", "0x1A110bBA13A1f16cCa4b79758BD39290f29De82D"),
];

/// A delegation expiring sooner than this is a warning (the `DelegationExpiring` alarm's window).
pub const DELEGATION_WARN_SECS: i64 = 7 * 86_400;
/// The update types the bot handles; the webhook must deliver each.
pub const BOT_UPDATES: &[&str] = &["message", "edited_message", "callback_query"];
/// Pairs whose feed freshness is checked when the venue lists them (else the first three).
const MAJORS: &[&str] = &["BTC/USD", "ETH/USD", "SOL/USD"];

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

fn row(check: &'static str, verdict: Verdict, detail: impl Into<String>) -> Row {
    Row { check, verdict, detail: detail.into() }
}

/// The whole table.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    /// True when no check is NO-GO.
    pub fn go(&self) -> bool {
        self.rows.iter().all(|r| r.verdict != Verdict::NoGo)
    }
    pub fn get(&self, check: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.check == check)
    }
    pub fn no_gos(&self) -> Vec<&'static str> {
        self.rows.iter().filter(|r| r.verdict == Verdict::NoGo).map(|r| r.check).collect()
    }
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{:<18} {:<6} DETAIL", "CHECK", "RESULT");
        for r in &self.rows {
            let _ = writeln!(out, "{:<18} {:<6} {}", r.check, r.verdict.as_str(), r.detail);
        }
        let n = self.no_gos();
        let _ = if n.is_empty() {
            writeln!(out, "GO: every check passed")
        } else {
            writeln!(out, "NO-GO: {} (see RUNBOOK.md#go-no-go)", n.join(", "))
        };
        out
    }
}

/// What preflight reads.
pub struct Inputs<'a> {
    pub settings: &'a Settings,
    pub sdk: &'a SdkConfig,
    pub store: &'a dyn ControlStore,
    pub now: Timestamp,
    /// The operator limits as the functions will apply them (a seam: see [`crate::limits`]).
    pub limits: Result<OperatorLimits, String>,
    /// Where the alarms are read ([`CloudWatchAlarms`] in production).
    pub alarms: &'a dyn AlarmSource,
}

/// One CloudWatch alarm as preflight judges it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmInfo {
    pub name: String,
    pub actions: Vec<String>,
    pub description: String,
}

/// Reads alarms by name (those that exist; a missing one is simply not returned).
#[async_trait]
pub trait AlarmSource: Send + Sync {
    async fn describe(&self, names: &[String]) -> Result<Vec<AlarmInfo>, String>;
}

/// The alarms in CloudWatch (`DescribeAlarms`).
pub struct CloudWatchAlarms(pub aws_sdk_cloudwatch::Client);

impl CloudWatchAlarms {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self(aws_sdk_cloudwatch::Client::new(sdk))
    }
}

#[async_trait]
impl AlarmSource for CloudWatchAlarms {
    async fn describe(&self, names: &[String]) -> Result<Vec<AlarmInfo>, String> {
        let mut found = Vec::new();
        // DescribeAlarms takes at most 100 names a call.
        for chunk in names.chunks(100) {
            let mut token = None;
            loop {
                let req = self.0.describe_alarms().set_alarm_names(Some(chunk.to_vec())).set_next_token(token.take());
                let out =
                    req.send().await.map_err(|e| format!("DescribeAlarms: {}", aws_sdk_cloudwatch::error::DisplayErrorContext(&e)))?;
                for a in out.metric_alarms() {
                    if let Some(n) = a.alarm_name() {
                        found.push(AlarmInfo {
                            name: n.to_owned(),
                            actions: a.alarm_actions().to_vec(),
                            description: a.alarm_description().unwrap_or_default().to_owned(),
                        });
                    }
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(found)
    }
}

/// Runs every check (independent ones at the same time) and returns the table.
pub async fn run(i: &Inputs<'_>) -> Report {
    let venue = venue_client(i.settings);
    let (contracts, delegations, feeds) = tokio::join!(check_contracts(i, &venue), check_delegations(i, &venue), check_feeds(i, &venue));
    let (alarms, topic, webhook, dlqs) = tokio::join!(check_alarms(i), check_topic(i), check_webhook(i), check_dlqs(i));
    let mut rows = vec![check_exec(i).await, check_admins(i), check_limits(i), contracts, delegations, feeds, alarms, topic, webhook];
    rows.extend(dlqs);
    Report { rows }
}

fn venue_client(s: &Settings) -> Result<AvantisClient, String> {
    let u = &s.config.avantis;
    let mut cfg = AvantisConfig::new(u.tx_builder.clone(), u.batched_market.clone(), u.core.clone(), u.data.clone(), s.config.chain_id);
    cfg.retries = 1;
    cfg.request_timeout = Duration::from_secs(10);
    AvantisClient::new(cfg).map_err(|e| e.to_string())
}

async fn check_exec(i: &Inputs<'_>) -> Row {
    let env = i.settings.config.exec;
    let stored = i.store.get_exec_control().await;
    let stored_text = match &stored {
        Ok(Some(c)) => format!("stored {} / stop {} (v{})", c.mode, c.stop.as_str(), c.version),
        Ok(None) => "stored: not set".to_owned(),
        Err(e) => return row(EXEC_MODE, Verdict::NoGo, format!("the exec-mode item is unreadable ({e}): every function runs DRY")),
    };
    let eff = effective_exec(env, stored.clone());
    let text = format!("deployment {} (EMERGENCY_STOP={}), {stored_text}, effective {}", env.mode, env.emergency_stop, eff.mode);
    if env.mode == ExecMode::Dry {
        return row(EXEC_MODE, Verdict::NoGo, format!("{text}: redeploy with ExecutionMode=LIVE first (see RUNBOOK.md#go-no-go)"));
    }
    if env.emergency_stop {
        return row(EXEC_MODE, Verdict::NoGo, format!("{text}: the deployment's EmergencyStop=true keeps entries paused"));
    }
    match stored {
        Ok(Some(c)) if c.stop != StopLevel::None => {
            row(EXEC_MODE, Verdict::Warn, format!("{text}: the stored stop stays on until `vanta-ops resume`"))
        }
        _ => row(EXEC_MODE, Verdict::Go, text),
    }
}

fn check_admins(i: &Inputs<'_>) -> Row {
    let c = &i.settings.config;
    let admins: Vec<String> = c.admin_ids.iter().map(ToString::to_string).collect();
    let supers: Vec<String> = c.super_admin_ids.iter().map(ToString::to_string).collect();
    if supers.is_empty() {
        return row(ADMIN_IDS, Verdict::NoGo, "SuperAdminIds is empty: nobody can pull the emergency stop from Telegram");
    }
    row(
        ADMIN_IDS,
        Verdict::Go,
        format!("{} admin(s) [{}], {} super-admin(s) [{}]", admins.len(), admins.join(","), supers.len(), supers.join(",")),
    )
}

fn check_limits(i: &Inputs<'_>) -> Row {
    match &i.limits {
        Err(e) => row(OPERATOR_LIMITS, Verdict::NoGo, format!("operator limits unreadable: {e}")),
        Ok(l) => match crate::limits::problems(l) {
            p if p.is_empty() => row(OPERATOR_LIMITS, Verdict::Go, crate::limits::summary(l)),
            p => row(OPERATOR_LIMITS, Verdict::NoGo, p.join("; ")),
        },
    }
}

/// Pins: the built-in Base mainnet ones (on chain 8453), then `VANTA_PINNED_ADDRESSES`.
pub fn pins(s: &Settings) -> Result<BTreeMap<String, Address>, String> {
    let mut pins = BTreeMap::new();
    if s.config.chain_id == vanta_chain::eip712::BASE_MAINNET_CHAIN_ID {
        for (k, a) in PINNED_BASE_MAINNET {
            pins.insert((*k).to_owned(), a.parse::<Address>().map_err(|e| format!("pinned {k}: {e}"))?);
        }
    }
    for entry in s.get("VANTA_PINNED_ADDRESSES").unwrap_or_default().split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (k, a) = entry.split_once('=').ok_or_else(|| format!("VANTA_PINNED_ADDRESSES: '{entry}' is not name=0xADDRESS"))?;
        let a = a.trim().parse::<Address>().map_err(|_| format!("VANTA_PINNED_ADDRESSES: {k} is not an address"))?;
        pins.insert(k.trim().to_owned(), a);
    }
    Ok(pins)
}

async fn check_contracts(i: &Inputs<'_>, venue: &Result<AvantisClient, String>) -> Row {
    let venue = match venue {
        Ok(v) => v,
        Err(e) => return row(CONTRACTS, Verdict::NoGo, format!("venue settings: {e}")),
    };
    let pins = match pins(i.settings) {
        Ok(p) => p,
        Err(e) => return row(CONTRACTS, Verdict::NoGo, e),
    };
    let meta = match venue.meta().await {
        Ok(m) => m,
        Err(e) => return row(CONTRACTS, Verdict::NoGo, format!("/v2/meta: {e}")),
    };
    let mut bad = Vec::new();
    for (name, want) in &pins {
        match meta.addresses.get(name) {
            Some(got) if got == want => {}
            Some(got) => bad.push(format!("{name} is {got}, pinned {want}")),
            None => bad.push(format!("{name} missing (pinned {want})")),
        }
    }
    if !pins.contains_key("tradingRouter") {
        bad.push(format!(
            "tradingRouter is not pinned (/v2/meta says {}): check it, then set VANTA_PINNED_ADDRESSES=tradingRouter={}",
            meta.trading_router, meta.trading_router
        ));
    }
    if bad.is_empty() {
        row(
            CONTRACTS,
            Verdict::Go,
            format!(
                "chain {}; {} address(es) match the pins ({})",
                meta.chain_id,
                pins.len(),
                pins.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    } else {
        row(CONTRACTS, Verdict::NoGo, format!("/v2/meta disagrees with the pins: {}", bad.join("; ")))
    }
}

/// Every user profile in the table (a scan: fine for an operator's occasional check).
pub async fn all_users(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<User>, String> {
    let mut users = Vec::new();
    let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
    loop {
        let out = dynamo
            .scan()
            .table_name(table)
            .filter_expression("begins_with(#pk, :u) AND #sk = :p")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":u", AttributeValue::S("USER#".into()))
            .expression_attribute_values(":p", AttributeValue::S("PROFILE".into()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("Scan: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
        for item in out.items() {
            let data = item.get("data").and_then(|d| d.as_s().ok()).ok_or("a user item without data")?;
            users.push(serde_json::from_str::<User>(data).map_err(|e| format!("an unreadable user item: {e}"))?);
        }
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(users),
        }
    }
}

/// The KMS client, at `AWS_ENDPOINT_URL_KMS` when set (the SDK's per-service endpoint name).
pub fn kms_client(s: &Settings, sdk: &SdkConfig, env_kms: Option<String>) -> aws_sdk_kms::Client {
    let mut b = aws_sdk_kms::config::Builder::from(sdk);
    if let Some(u) = env_kms.or_else(|| s.get("AWS_ENDPOINT_URL_KMS").map(str::to_owned)) {
        b = b.endpoint_url(u);
    }
    aws_sdk_kms::Client::from_conf(b.build())
}

async fn check_delegations(i: &Inputs<'_>, venue: &Result<AvantisClient, String>) -> Row {
    let venue = match venue {
        Ok(v) => v,
        Err(e) => return row(DELEGATIONS, Verdict::NoGo, format!("venue settings: {e}")),
    };
    let Some(table) = i.settings.get("TABLE_NAME") else { return row(DELEGATIONS, Verdict::NoGo, "TABLE_NAME unknown") };
    let users = match all_users(&aws_sdk_dynamodb::Client::new(i.sdk), table).await {
        Ok(u) => u,
        Err(e) => return row(DELEGATIONS, Verdict::NoGo, e),
    };
    let active: Vec<&User> = users.iter().filter(|u| u.active && u.trader.is_some() && u.trader_verified_at.is_some()).collect();
    if active.is_empty() {
        return row(DELEGATIONS, Verdict::Go, "no active user with a verified wallet yet");
    }
    let Some(main_key) = i.settings.config.kms_key_id.clone() else {
        return row(DELEGATIONS, Verdict::NoGo, "KMS_KEY_ID unknown (stack output SignerKeyId): cannot tell the delegate addresses");
    };
    let kms = kms_client(i.settings, i.sdk, None);
    let pool: BTreeSet<String> = std::iter::once(main_key.clone()).chain(i.settings.config.kms_pool_key_arns.iter().cloned()).collect();
    let mut addresses: BTreeMap<String, TraderAddress> = BTreeMap::new();
    for key in &pool {
        match KmsSigner::new(kms.clone(), key.clone(), Some(i.settings.config.chain_id)).await {
            Ok(s) => {
                addresses.insert(key.clone(), s.address());
            }
            Err(e) => return row(DELEGATIONS, Verdict::NoGo, format!("delegate key {key}: {e}")),
        }
    }
    let (mut blocked, mut expiring) = (Vec::new(), Vec::new());
    let now_s = i.now.secs();
    for u in &active {
        let Some(trader) = u.trader else { continue };
        let key = u.delegate_key.clone().unwrap_or_else(|| main_key.clone());
        let Some(delegate) = addresses.get(&key) else {
            blocked.push(format!("user {}: delegate key {key} is not in the pool", u.id));
            continue;
        };
        match venue.delegation(trader, *delegate).await {
            Err(e) => return row(DELEGATIONS, Verdict::NoGo, format!("/v2/delegation: {e}")),
            Ok(d) => {
                let expiry = i64::try_from(d.expiry).unwrap_or(i64::MAX);
                if !d.is_enabled || !d.can_sign_intents || expiry <= now_s {
                    blocked.push(format!("user {} ({trader}): no usable delegation to {delegate}", u.id));
                } else if expiry - now_s < DELEGATION_WARN_SECS {
                    expiring.push(format!("user {} in {} h", u.id, (expiry - now_s) / 3600));
                }
            }
        }
    }
    let head = format!("{} active verified user(s)", active.len());
    if !blocked.is_empty() {
        row(DELEGATIONS, Verdict::NoGo, format!("{head}; cannot trade LIVE: {} (see RUNBOOK.md#delegation-expiry)", blocked.join("; ")))
    } else if !expiring.is_empty() {
        row(
            DELEGATIONS,
            Verdict::Warn,
            format!("{head}; expiring within 7 days: {} (see RUNBOOK.md#delegation-expiry)", expiring.join(", ")),
        )
    } else {
        row(DELEGATIONS, Verdict::Go, format!("{head}; every delegation active for more than 7 days"))
    }
}

fn feed_id_ok(id: &str) -> bool {
    let hex = id.trim_start_matches("0x");
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn check_feeds(i: &Inputs<'_>, venue: &Result<AvantisClient, String>) -> Row {
    let venue = match venue {
        Ok(v) => v,
        Err(e) => return row(PRICE_FEEDS, Verdict::NoGo, format!("venue settings: {e}")),
    };
    let max_age = i.limits.as_ref().map_or(30, |l| l.max_price_age_secs);
    let (catalog, feeds) = match (venue.pairs().await, venue.price_feeds().await) {
        (Ok(c), Ok(f)) => (c, f),
        (Err(e), _) | (_, Err(e)) => return row(PRICE_FEEDS, Verdict::NoGo, format!("pair catalog: {e}")),
    };
    let bad_ids: Vec<String> = feeds.iter().filter(|(_, id)| !feed_id_ok(id)).map(|(p, _)| p.to_string()).collect();
    if !bad_ids.is_empty() {
        return row(PRICE_FEEDS, Verdict::NoGo, format!("malformed Pyth feed ids for {}", bad_ids.join(", ")));
    }
    let mut pairs: Vec<PairSymbol> =
        MAJORS.iter().filter_map(|m| catalog.iter().find(|p| p.symbol.to_string() == *m)).map(|p| p.symbol.clone()).collect();
    if pairs.is_empty() {
        pairs = catalog.iter().take(3).map(|p| p.symbol.clone()).collect();
    }
    let hermes = match PythHermes::new(&i.settings.config.pyth_hermes_url, feeds.clone()) {
        Ok(h) => h,
        Err(e) => return row(PRICE_FEEDS, Verdict::NoGo, format!("Pyth: {e}")),
    };
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for p in &pairs {
        if !feeds.contains_key(p) {
            bad.push(format!("{p}: no feed id in the catalog"));
            continue;
        }
        match hermes.quotes(p).await {
            Err(e) => bad.push(format!("{p}: {e}")),
            Ok(q) => match q.iter().map(|q| i.now.since(q.published_at) / 1000).min() {
                None => bad.push(format!("{p}: no quote")),
                Some(age) if age > i64::from(max_age) => bad.push(format!("{p}: {age}s old (max {max_age}s)")),
                Some(age) => ok.push(format!("{p} {age}s")),
            },
        }
    }
    if bad.is_empty() && !ok.is_empty() {
        row(PRICE_FEEDS, Verdict::Go, format!("{} feed id(s) well-formed; fresh: {}", feeds.len(), ok.join(", ")))
    } else if bad.is_empty() {
        row(PRICE_FEEDS, Verdict::NoGo, "the venue lists no pair")
    } else {
        row(PRICE_FEEDS, Verdict::NoGo, format!("stale or missing prices: {} (see RUNBOOK.md#stale-prices)", bad.join("; ")))
    }
}

/// The full alarm names preflight requires: `VANTA_ALARM_PREFIX`, else the stack name and a
/// dash, else [`DEFAULT_ALARM_PREFIX`], then each of [`REQUIRED_ALARMS`].
pub fn alarm_names(s: &Settings) -> Vec<(String, &'static str)> {
    let prefix = match (s.get("VANTA_ALARM_PREFIX"), &s.stack) {
        (Some(p), _) => p.to_owned(),
        (None, Some(stack)) => format!("{stack}-"),
        (None, None) => DEFAULT_ALARM_PREFIX.to_owned(),
    };
    REQUIRED_ALARMS.iter().map(|(suffix, anchor)| (format!("{prefix}{suffix}"), *anchor)).collect()
}

async fn check_alarms(i: &Inputs<'_>) -> Row {
    let Some(topic) = i.settings.get("ALARM_TOPIC_ARN") else {
        return row(ALARMS, Verdict::NoGo, "ALARM_TOPIC_ARN unknown (stack output AlarmTopicArn)");
    };
    let wanted = alarm_names(i.settings);
    let names: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
    let found: BTreeMap<String, (Vec<String>, String)> = match i.alarms.describe(&names).await {
        Ok(list) => list.into_iter().map(|a| (a.name, (a.actions, a.description))).collect(),
        Err(e) => return row(ALARMS, Verdict::NoGo, e),
    };
    let (mut missing, mut silent, mut unlinked) = (Vec::new(), Vec::new(), Vec::new());
    for (name, anchor) in &wanted {
        match found.get(name) {
            None => missing.push(name.clone()),
            Some((actions, _)) if !actions.iter().any(|a| a == topic) => silent.push(name.clone()),
            Some((_, description)) if !description.contains(&format!("#{anchor}")) => unlinked.push(format!("{name} (#{anchor})")),
            Some(_) => {}
        }
    }
    if !missing.is_empty() || !silent.is_empty() {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("missing: {}", missing.join(", ")));
        }
        if !silent.is_empty() {
            why.push(format!("not notifying the alarm topic: {}", silent.join(", ")));
        }
        row(ALARMS, Verdict::NoGo, why.join("; "))
    } else if !unlinked.is_empty() {
        row(ALARMS, Verdict::Warn, format!("{} present; no runbook link in: {}", wanted.len(), unlinked.join(", ")))
    } else {
        row(ALARMS, Verdict::Go, format!("{} alarm(s) present, each notifying the alarm topic", wanted.len()))
    }
}

async fn check_topic(i: &Inputs<'_>) -> Row {
    let Some(topic) = i.settings.get("ALARM_TOPIC_ARN") else {
        return row(ALARM_TOPIC, Verdict::NoGo, "ALARM_TOPIC_ARN unknown (stack output AlarmTopicArn)");
    };
    let sns = aws_sdk_sns::Client::new(i.sdk);
    let mut subs = Vec::new();
    let mut token = None;
    loop {
        match sns.list_subscriptions_by_topic().topic_arn(topic).set_next_token(token.take()).send().await {
            Err(e) => {
                return row(
                    ALARM_TOPIC,
                    Verdict::NoGo,
                    format!("ListSubscriptionsByTopic: {}", aws_sdk_sns::error::DisplayErrorContext(&e)),
                );
            }
            Ok(out) => {
                subs.extend(
                    out.subscriptions()
                        .iter()
                        .map(|s| (s.protocol().unwrap_or_default().to_owned(), s.subscription_arn().unwrap_or_default().to_owned())),
                );
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
    }
    let confirmed: Vec<&(String, String)> = subs.iter().filter(|(_, arn)| arn.starts_with("arn:")).collect();
    let pending = subs.len() - confirmed.len();
    let protocols: BTreeSet<&str> = confirmed.iter().map(|(p, _)| p.as_str()).collect();
    let text = format!(
        "{} confirmed subscription(s) [{}]{}",
        confirmed.len(),
        protocols.iter().copied().collect::<Vec<_>>().join(", "),
        if pending > 0 { format!(", {pending} pending confirmation") } else { String::new() }
    );
    if confirmed.is_empty() {
        row(ALARM_TOPIC, Verdict::NoGo, format!("{text}: alarms reach nobody (subscribe with AlarmEmail and confirm the mail)"))
    } else if !protocols.contains("lambda") {
        row(ALARM_TOPIC, Verdict::Warn, format!("{text}: alarms do not reach the admins on Telegram (no notifier subscription)"))
    } else {
        row(ALARM_TOPIC, Verdict::Go, text)
    }
}

async fn check_webhook(i: &Inputs<'_>) -> Row {
    let s = i.settings;
    let (config, token) = match crate::telegram::bot_config(s, i.sdk).await {
        Ok(c) => c,
        Err(e) => return row(TELEGRAM_WEBHOOK, Verdict::NoGo, e),
    };
    let Some(expected) = s.get("TELEGRAM_WEBHOOK_URL") else {
        return row(TELEGRAM_WEBHOOK, Verdict::NoGo, "TELEGRAM_WEBHOOK_URL unknown (stack output TelegramWebhookUrl)");
    };
    let info = match crate::telegram::call(&config, &token, "getWebhookInfo", &Value::Object(Default::default())).await {
        Ok(v) => v,
        Err(e) => return row(TELEGRAM_WEBHOOK, Verdict::NoGo, e),
    };
    let got = info.get("url").and_then(Value::as_str).unwrap_or_default();
    if got.is_empty() {
        return row(TELEGRAM_WEBHOOK, Verdict::NoGo, "no webhook registered: run `vanta-ops set-webhook`");
    }
    if got != expected {
        return row(TELEGRAM_WEBHOOK, Verdict::NoGo, format!("registered at {got}, expected {expected}: run `vanta-ops set-webhook`"));
    }
    if let Some(err) = info.get("last_error_message").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        return row(
            TELEGRAM_WEBHOOK,
            Verdict::NoGo,
            format!("Telegram's last delivery failed: {err} (a 401 means the secret differs: run `vanta-ops set-webhook`)"),
        );
    }
    if let Some(allowed) = info.get("allowed_updates").and_then(Value::as_array) {
        let allowed: BTreeSet<&str> = allowed.iter().filter_map(Value::as_str).collect();
        let missing: Vec<&str> = BOT_UPDATES.iter().copied().filter(|u| !allowed.contains(u)).collect();
        if !missing.is_empty() {
            return row(
                TELEGRAM_WEBHOOK,
                Verdict::NoGo,
                format!("the webhook does not deliver {}: run `vanta-ops set-webhook`", missing.join(", ")),
            );
        }
    }
    let pending = info.get("pending_update_count").and_then(Value::as_u64).unwrap_or(0);
    if pending > 100 {
        return row(TELEGRAM_WEBHOOK, Verdict::Warn, format!("registered at {got}; {pending} updates waiting"));
    }
    row(TELEGRAM_WEBHOOK, Verdict::Go, format!("registered at {got} with the secret from SSM; {pending} update(s) waiting"))
}

async fn check_dlqs(i: &Inputs<'_>) -> Vec<Row> {
    let sqs = aws_sdk_sqs::Client::new(i.sdk);
    let mut rows = Vec::new();
    for (check, name, output) in [
        (SIGNALS_DLQ, "SIGNALS_DLQ_URL", "SignalsDeadLetterQueueUrl"),
        (NOTIFICATIONS_DLQ, "NOTIFICATIONS_DLQ_URL", "NotificationsDeadLetterQueueUrl"),
    ] {
        rows.push(match i.settings.get(name) {
            None => row(check, Verdict::NoGo, format!("{name} unknown (stack output {output})")),
            Some(url) => match crate::queues::depth(&sqs, url).await {
                Ok(0) => row(check, Verdict::Go, "empty"),
                Ok(n) => row(check, Verdict::NoGo, format!("{n} message(s) parked: see RUNBOOK.md#dlq-not-empty")),
                Err(e) => row(check, Verdict::NoGo, e),
            },
        });
    }
    rows
}
