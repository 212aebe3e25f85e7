//! `Config::from_env()`: every setting, parsed once per cold start. Handlers never read the
//! environment. Secrets are [`SecretString`]s: `Debug` prints `[REDACTED]`, and nothing logs them.
//! Every name is documented in `.env.example`.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use secrecy::SecretString;
use vanta_domain::exec::{EnvExec, ExecMode};
use vanta_domain::ids::TelegramUserId;
use vanta_domain::market::PairSymbol;

/// A setting that is present but unusable. Names the variable, never echoes a secret's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{0} is required")]
    Missing(&'static str),
}

/// The public Telegram Bot API.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Base mainnet. The SDK takes the chain id from `/v2/meta` and defines none per profile, so
/// `CHAIN_ID` defaults to this on either network (Vanta refuses to sign when `/v2/meta` differs).
pub const BASE_CHAIN_ID: u64 = 8453;
pub const DEFAULT_BASE_RPC_URL: &str = "https://mainnet.base.org";
/// Default and largest total time one venue call (an order, its reconciliation) may wait
/// (`VENUE_WAIT_BUDGET_SECS`); the largest stays well below the signal worker's 25 s timeout.
pub const DEFAULT_VENUE_WAIT_BUDGET_SECS: u32 = 15;
pub const MAX_VENUE_WAIT_BUDGET_SECS: u32 = 18;

/// Which Veranta (formerly Avantis) deployment the hosts default to (`VERANTA_NETWORK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerantaNetwork {
    /// Base mainnet, the production venue (the default).
    #[default]
    Mainnet,
    /// Veranta's testnet (the SDK's `testnet` profile).
    Testnet,
}

impl VerantaNetwork {
    /// The SDK's host profile of this network (`veranta-sdk` 2.2.0, `config.py`).
    pub fn profile(self) -> &'static VerantaProfile {
        match self {
            Self::Mainnet => &VERANTA_MAINNET,
            Self::Testnet => &VERANTA_TESTNET,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mainnet => "mainnet",
            Self::Testnet => "testnet",
        }
    }
}

/// The hosts of one Veranta network, as the official SDK's profile names them. The routed
/// services (`/core`, `/batched-market`, `/data`) hang off the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerantaProfile {
    pub gateway: &'static str,
    pub tx_builder: &'static str,
    pub history: &'static str,
    pub feed: &'static str,
}

/// The SDK's `MAINNET` profile.
pub const VERANTA_MAINNET: VerantaProfile = VerantaProfile {
    gateway: "https://prod-api.veranta.xyz",
    tx_builder: "https://tx-builder.veranta.xyz",
    history: "https://api.veranta.xyz",
    feed: "https://feed-v3.veranta.xyz",
};

/// The SDK's `TESTNET` profile.
pub const VERANTA_TESTNET: VerantaProfile = VerantaProfile {
    gateway: "https://staging-api.veranta.xyz",
    tx_builder: "https://tx-builder-testnet.veranta.xyz",
    history: "https://testnet-api.veranta.xyz",
    feed: "https://feed-v3-testnet.veranta.xyz",
};

/// Veranta's delegate ("API key") page, where a trader registers Vanta's delegate.
pub const VERANTA_DELEGATE_UI_URL: &str = "https://delegate.veranta.xyz";

/// A pre-rename variable that was read (or ignored because its new name was also set). Logged
/// once each by [`Config::warn_deprecated_names`] once tracing is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeprecatedName {
    pub old: &'static str,
    pub new: &'static str,
    /// The new name was set too, so the old one was ignored.
    pub ignored: bool,
}

/// Veranta (formerly Avantis) service endpoints: the network profile's hosts unless a
/// `VERANTA_*` override names another (tests point them at a fake server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvantisUrls {
    /// The gateway the routed services derive from (`VERANTA_API_BASE_URL`).
    pub gateway: String,
    pub tx_builder: String,
    pub batched_market: String,
    pub core: String,
    pub data: String,
    /// Trade history (`VERANTA_HISTORY_API_URL`).
    pub history: String,
    /// Price feed (`VERANTA_FEED_URL`, `GET {feed}/v2/pairs/{i}/price-update-data`).
    pub feed: String,
    /// The risk engine v2 the DRY paper fills take their spread from (`VERANTA_RISK_V2_API_URL`,
    /// default `{gateway}/risk/v2` as the SDK's; `none`: the catalog's `spreadP`).
    pub risk_v2: Option<String>,
}

/// How LIVE orders reach Veranta (`VERANTA_EXECUTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AvantisRoute {
    /// Signed intents to Veranta's relayer APIs (gasless; the default).
    #[default]
    Relayer,
    /// Self-broadcast transactions from tx-builder calldata (the delegate pays gas on Base).
    Direct,
}

/// Which Chainlink feeds the second price source reads (`CHAINLINK_FEEDS`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChainlinkFeedsSetting {
    /// Unset or empty: the built-in Base mainnet BTC/USD, ETH/USD and SOL/USD feeds.
    #[default]
    BaseDefaults,
    /// `none`: Chainlink is not read; Pyth alone.
    Disabled,
    /// `PAIR=0xADDRESS,…`: pairs in canonical form, each with its aggregator address as given
    /// (`0x` and 40 hex digits, checked).
    Custom(Vec<(PairSymbol, String)>),
}

impl ChainlinkFeedsSetting {
    /// Reads `none`, or `PAIR=0xADDRESS` entries separated by commas (empty entries ignored).
    pub fn parse(v: &str) -> Result<Self, String> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(Self::BaseDefaults);
        }
        if v.eq_ignore_ascii_case("none") {
            return Ok(Self::Disabled);
        }
        let mut feeds: Vec<(PairSymbol, String)> = Vec::new();
        for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why: &str| format!("'{entry}': {why} (expected PAIR=0xADDRESS entries separated by commas, or none)");
            let (pair, address) = entry.split_once('=').ok_or_else(|| bad("no '='"))?;
            let pair = PairSymbol::parse(pair).map_err(|_| bad("not a pair"))?;
            let address = address.trim();
            let hex = address.strip_prefix("0x").ok_or_else(|| bad("the address must start with 0x"))?;
            if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("the address must be 40 hex digits after 0x"));
            }
            if feeds.iter().any(|(p, _)| *p == pair) {
                return Err(bad("this pair is given twice"));
            }
            feeds.push((pair, address.to_owned()));
        }
        if feeds.is_empty() {
            return Err("no feed given (use none to disable Chainlink)".into());
        }
        Ok(Self::Custom(feeds))
    }
}

/// Everything a function needs to know, from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB single table (`TABLE_NAME`). None only for the local runner (in-memory store).
    pub table_name: Option<String>,
    pub signals_queue_url: Option<String>,
    /// The signals DLQ (`SIGNALS_DLQ_URL`), for `/status`.
    pub signals_dlq_url: Option<String>,
    pub notifications_queue_url: Option<String>,
    /// `AWS_ENDPOINT_URL`: a local emulator instead of AWS.
    pub aws_endpoint_url: Option<String>,
    /// `COPY_EXECUTION_MODE` and `EMERGENCY_STOP`: the deployment's ceiling on the exec mode.
    pub exec: EnvExec,
    pub admin_ids: BTreeSet<TelegramUserId>,
    /// May pull and release the emergency stop. Super-admins are admins too.
    pub super_admin_ids: BTreeSet<TelegramUserId>,
    pub telegram_bot_token: Option<SecretString>,
    pub telegram_webhook_secret: Option<SecretString>,
    pub telegram_api_url: String,
    pub http_addr: SocketAddr,
    pub kms_key_id: Option<String>,
    /// `SOURCE_SECRETS_KEY_ID`: the symmetric KMS key (an ARN, not a secret) that wraps the data
    /// keys of signal-source secrets. Unset under Lambda: no source can be created or opened.
    pub source_secrets_key_id: Option<String>,
    pub kms_pool_key_arns: Vec<String>,
    /// `VERANTA_NETWORK`: the profile the hosts default to.
    pub veranta_network: VerantaNetwork,
    pub avantis: AvantisUrls,
    pub pyth_hermes_url: String,
    pub base_rpc_url: String,
    /// `CHAINLINK_FEEDS`: the Chainlink feeds read (through `BASE_RPC_URL`) next to Pyth.
    pub chainlink_feeds: ChainlinkFeedsSetting,
    /// `PRICE_FEED_SETTINGS`: each feed's heartbeat and deviation, over the embedded defaults
    /// (`source:PAIR=<s>s/<bps>bps,…`).
    pub price_feeds: vanta_domain::feeds::FeedTable,
    pub chain_id: u64,
    /// `VERANTA_EXECUTION` (formerly `AVANTIS_ROUTE`): `relayer` (default) or `direct`.
    pub avantis_route: AvantisRoute,
    /// JSON logs (`VANTA_LOG_FORMAT=json`, default under Lambda).
    pub log_json: bool,
    /// Signals older (or newer) than this are refused (`SIGNAL_REPLAY_WINDOW_SECS`, default 300).
    pub signal_replay_window_secs: u32,
    /// Signals accepted per source per minute (`SIGNAL_RATE_PER_MIN`, default 30).
    pub signal_rate_per_min: u32,
    /// The local runner's demo signal source (`VANTA_DEMO_SOURCE_ID`, `VANTA_DEMO_SOURCE_SECRET`).
    pub demo_source_id: String,
    pub demo_source_secret: SecretString,
    /// `PUBLIC_BASE_URL`: where users reach this deployment's API (the wallet-proof page and the
    /// domain the sign-in message names). Not secret. None: a placeholder domain and no link.
    pub public_base_url: Option<String>,
    /// Total wait of one venue call (`VENUE_WAIT_BUDGET_SECS`, default 15, at most 18): past it
    /// the outcome is left to reconciliation.
    pub venue_wait_budget_secs: u32,
    /// Active followers one leader may have (`COPY_MAX_FOLLOWERS`, default 500).
    pub copy_max_followers: u32,
    /// Pre-rename `AVANTIS_*` names found in the environment.
    pub deprecated_names: Vec<DeprecatedName>,
    /// The operator's maxima bounding every user's `/setrisk` (`OPERATOR_*`; the stored
    /// `CONTROL`/`LIMITS` item may tighten them at run time).
    pub operator_limits: vanta_domain::risk::OperatorLimits,
}

/// An http(s) URL without its trailing slash. The error names the variable, never the value
/// (an RPC URL may carry a key).
fn http_url(name: &'static str, v: &str) -> Result<String, ConfigError> {
    if v.starts_with("http://") || v.starts_with("https://") {
        Ok(v.trim_end_matches('/').to_owned())
    } else {
        Err(ConfigError::Invalid { name, reason: "must be an http(s) URL".into() })
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mode = match opt("COPY_EXECUTION_MODE") {
            None => ExecMode::Dry,
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError::Invalid { name: "COPY_EXECUTION_MODE", reason: format!("must be DRY or LIVE, not '{v}'") })?,
        };
        let emergency_stop = match opt("EMERGENCY_STOP").map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => false,
            // An unreadable stop flag is a stop.
            Some(_) => true,
        };
        let ids = |name: &'static str| -> Result<BTreeSet<TelegramUserId>, ConfigError> {
            opt(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<TelegramUserId>().map_err(|e| ConfigError::Invalid { name, reason: e.to_string() }))
                .collect()
        };
        let super_admin_ids = ids("SUPER_ADMIN_IDS")?;
        let mut admin_ids = ids("ADMIN_USER_IDS")?;
        admin_ids.extend(super_admin_ids.iter().copied());
        let url = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            http_url(name, &opt(name).unwrap_or_else(|| default.to_owned()))
        };
        let http_addr = opt("VANTA_HTTP_ADDR")
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_owned())
            .parse()
            .map_err(|_| ConfigError::Invalid { name: "VANTA_HTTP_ADDR", reason: "must be host:port, e.g. 127.0.0.1:8080".into() })?;
        let chain_id = match opt("CHAIN_ID") {
            None => BASE_CHAIN_ID,
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid { name: "CHAIN_ID", reason: "must be a number".into() })?,
        };
        let secret = |name: &'static str| opt(name).map(SecretString::from);
        let number = |name: &'static str, default: u32, range: std::ops::RangeInclusive<u32>| -> Result<u32, ConfigError> {
            match opt(name) {
                None => Ok(default),
                Some(v) => v.parse::<u32>().ok().filter(|n| range.contains(n)).ok_or(ConfigError::Invalid {
                    name,
                    reason: format!("must be a whole number from {} to {}", range.start(), range.end()),
                }),
            }
        };
        // Veranta names first; each pre-rename name still works, noted for a warning.
        let mut deprecated_names = Vec::new();
        let mut veranta = |new: &'static str, legacy: &[&'static str]| -> Option<(String, &'static str)> {
            let mut found = opt(new).map(|v| (v, new));
            for &old in legacy {
                if let Some(v) = opt(old) {
                    deprecated_names.push(DeprecatedName { old, new, ignored: found.is_some() });
                    if found.is_none() {
                        found = Some((v, old));
                    }
                }
            }
            found
        };
        let veranta_network = match veranta("VERANTA_NETWORK", &["AVANTIS_NETWORK"]) {
            None => VerantaNetwork::Mainnet,
            Some((v, name)) => match v.to_ascii_lowercase().as_str() {
                "mainnet" => VerantaNetwork::Mainnet,
                "testnet" => VerantaNetwork::Testnet,
                _ => return Err(ConfigError::Invalid { name, reason: format!("must be mainnet or testnet, not '{v}'") }),
            },
        };
        let profile = veranta_network.profile();
        let checked = |found: Option<(String, &'static str)>| -> Result<Option<String>, ConfigError> {
            match found {
                None => Ok(None),
                Some((v, name)) => http_url(name, &v).map(Some),
            }
        };
        let gateway = checked(veranta("VERANTA_API_BASE_URL", &["AVANTIS_API_BASE_URL"]))?.unwrap_or_else(|| profile.gateway.to_owned());
        let mut routed = |new: &'static str, legacy: &'static str, route: &str| -> Result<String, ConfigError> {
            Ok(checked(veranta(new, &[legacy]))?.unwrap_or_else(|| format!("{gateway}{route}")))
        };
        let batched_market = routed("VERANTA_BATCHED_MARKET_URL", "AVANTIS_BATCHED_MARKET_URL", "/batched-market")?;
        let core = routed("VERANTA_CORE_API_URL", "AVANTIS_CORE_API_URL", "/core")?;
        let data = routed("VERANTA_DATA_API_URL", "AVANTIS_DATA_API_URL", "/data")?;
        let risk_v2 = match veranta("VERANTA_RISK_V2_API_URL", &["AVANTIS_RISK_V2_API_URL"]) {
            Some((v, _)) if v.trim().eq_ignore_ascii_case("none") => None,
            found => Some(checked(found)?.unwrap_or_else(|| format!("{gateway}/risk/v2"))),
        };
        let avantis = AvantisUrls {
            // AVANTIS_API_URL was Vanta's own pre-rename name of the tx-builder.
            tx_builder: checked(veranta("VERANTA_TX_BUILDER_URL", &["AVANTIS_TX_BUILDER_URL", "AVANTIS_API_URL"]))?
                .unwrap_or_else(|| profile.tx_builder.to_owned()),
            batched_market,
            core,
            data,
            history: checked(veranta("VERANTA_HISTORY_API_URL", &["AVANTIS_HISTORY_API_URL"]))?
                .unwrap_or_else(|| profile.history.to_owned()),
            feed: checked(veranta("VERANTA_FEED_URL", &["AVANTIS_FEED_URL"]))?.unwrap_or_else(|| profile.feed.to_owned()),
            risk_v2,
            gateway,
        };
        let avantis_route = match veranta("VERANTA_EXECUTION", &["AVANTIS_EXECUTION", "AVANTIS_ROUTE"]) {
            None => AvantisRoute::Relayer,
            Some((v, name)) => match v.to_ascii_lowercase().as_str() {
                "relayer" => AvantisRoute::Relayer,
                "direct" => AvantisRoute::Direct,
                _ => return Err(ConfigError::Invalid { name, reason: "must be relayer or direct".into() }),
            },
        };
        // BASE_RPC_URL (Vanta's name) wins over the SDK's VERANTA_RPC_URL; the value is never shown.
        let base_rpc_url =
            match opt("BASE_RPC_URL").map(|v| (v, "BASE_RPC_URL")).or_else(|| veranta("VERANTA_RPC_URL", &["AVANTIS_RPC_URL"])) {
                None => DEFAULT_BASE_RPC_URL.to_owned(),
                Some((v, name)) => http_url(name, &v)?,
            };
        if let Some(t) = get("TELEGRAM_WEBHOOK_SECRET").filter(|v| !v.is_empty()) {
            let ok = (1..=256).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(ConfigError::Invalid {
                    name: "TELEGRAM_WEBHOOK_SECRET",
                    reason: "must be 1-256 characters of A-Z, a-z, 0-9, _ and -".into(),
                });
            }
        }
        Ok(Self {
            table_name: opt("TABLE_NAME"),
            signals_queue_url: opt("SIGNALS_QUEUE_URL"),
            signals_dlq_url: opt("SIGNALS_DLQ_URL"),
            notifications_queue_url: opt("NOTIFICATIONS_QUEUE_URL"),
            aws_endpoint_url: opt("AWS_ENDPOINT_URL"),
            exec: EnvExec { mode, emergency_stop },
            admin_ids,
            super_admin_ids,
            telegram_bot_token: secret("TELEGRAM_BOT_TOKEN"),
            telegram_webhook_secret: secret("TELEGRAM_WEBHOOK_SECRET"),
            telegram_api_url: url("TELEGRAM_API_URL", DEFAULT_TELEGRAM_API_URL)?,
            http_addr,
            kms_key_id: opt("KMS_KEY_ID"),
            source_secrets_key_id: opt("SOURCE_SECRETS_KEY_ID"),
            kms_pool_key_arns: opt("KMS_POOL_KEY_ARNS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            veranta_network,
            avantis,
            pyth_hermes_url: url("PYTH_HERMES_URL", "https://hermes.pyth.network")?,
            base_rpc_url,
            chainlink_feeds: ChainlinkFeedsSetting::parse(&opt("CHAINLINK_FEEDS").unwrap_or_default())
                .map_err(|reason| ConfigError::Invalid { name: "CHAINLINK_FEEDS", reason })?,
            price_feeds: vanta_domain::feeds::FeedTable::defaults()
                .with_overrides(&opt("PRICE_FEED_SETTINGS").unwrap_or_default())
                .map_err(|e| ConfigError::Invalid { name: "PRICE_FEED_SETTINGS", reason: e.to_string() })?,
            chain_id,
            avantis_route,
            log_json: match opt("VANTA_LOG_FORMAT").as_deref() {
                Some("json") => true,
                Some(_) => false,
                None => get("AWS_LAMBDA_FUNCTION_NAME").is_some(),
            },
            signal_replay_window_secs: number("SIGNAL_REPLAY_WINDOW_SECS", 300, 5..=3600)?,
            signal_rate_per_min: number("SIGNAL_RATE_PER_MIN", 30, 1..=10_000)?,
            demo_source_id: opt("VANTA_DEMO_SOURCE_ID").unwrap_or_else(|| "demo".to_owned()),
            demo_source_secret: secret("VANTA_DEMO_SOURCE_SECRET").unwrap_or_else(|| SecretString::from("demo-secret-change-me")),
            public_base_url: match opt("PUBLIC_BASE_URL") {
                None => None,
                Some(_) => Some(url("PUBLIC_BASE_URL", "")?),
            },
            venue_wait_budget_secs: number("VENUE_WAIT_BUDGET_SECS", DEFAULT_VENUE_WAIT_BUDGET_SECS, 1..=MAX_VENUE_WAIT_BUDGET_SECS)?,
            copy_max_followers: number("COPY_MAX_FOLLOWERS", 500, 1..=100_000)?,
            deprecated_names,
            operator_limits: crate::operator_limits::operator_limits_from(&get)?,
        })
    }

    /// Logs one warning per pre-rename `AVANTIS_*` variable found, naming its `VERANTA_*`
    /// successor. Call once tracing is installed.
    pub fn warn_deprecated_names(&self) {
        for d in &self.deprecated_names {
            if d.ignored {
                tracing::warn!(
                    old = d.old,
                    new = d.new,
                    "{} is ignored because {} is set (Avantis is now Veranta); remove {}",
                    d.old,
                    d.new,
                    d.old
                );
            } else {
                tracing::warn!(old = d.old, new = d.new, "{} is deprecated (Avantis is now Veranta); set {} instead", d.old, d.new);
            }
        }
    }

    /// [`Self::venue_wait_budget_secs`] as a duration.
    pub fn venue_wait_budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.venue_wait_budget_secs))
    }

    /// The table name, required by every Lambda function.
    pub fn require_table(&self) -> Result<&str, ConfigError> {
        self.table_name.as_deref().ok_or(ConfigError::Missing("TABLE_NAME"))
    }
    pub fn require_signals_queue(&self) -> Result<&str, ConfigError> {
        self.signals_queue_url.as_deref().ok_or(ConfigError::Missing("SIGNALS_QUEUE_URL"))
    }
    pub fn is_admin(&self, id: TelegramUserId) -> bool {
        self.admin_ids.contains(&id)
    }
    pub fn is_super_admin(&self, id: TelegramUserId) -> bool {
        self.super_admin_ids.contains(&id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.exec.mode, ExecMode::Dry);
        assert!(!c.exec.emergency_stop);
        assert!(c.admin_ids.is_empty());
        assert_eq!(c.telegram_api_url, DEFAULT_TELEGRAM_API_URL);
        assert_eq!(c.http_addr.to_string(), DEFAULT_HTTP_ADDR);
        assert_eq!(c.chain_id, 8453);
        assert!(c.require_table().is_err());
    }

    #[test]
    fn parses_everything() {
        let c = cfg(&[
            ("TABLE_NAME", "vanta"),
            ("COPY_EXECUTION_MODE", "live"),
            ("EMERGENCY_STOP", "false"),
            ("ADMIN_USER_IDS", "1, 2"),
            ("SUPER_ADMIN_IDS", "3"),
            ("TELEGRAM_API_URL", "http://127.0.0.1:9/"),
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
        ])
        .unwrap();
        assert_eq!(c.exec.mode, ExecMode::Live);
        assert!(c.is_admin(TelegramUserId(3)), "super-admins are admins");
        assert!(c.is_admin(TelegramUserId(1)) && !c.is_super_admin(TelegramUserId(1)));
        assert_eq!(c.telegram_api_url, "http://127.0.0.1:9");
        assert_eq!(c.telegram_bot_token.as_ref().unwrap().expose_secret(), "123:abc");
    }

    #[test]
    fn refuses_bad_values_by_name() {
        assert_eq!(
            cfg(&[("COPY_EXECUTION_MODE", "YOLO")]).unwrap_err().to_string(),
            "COPY_EXECUTION_MODE: must be DRY or LIVE, not 'YOLO'"
        );
        assert!(cfg(&[("ADMIN_USER_IDS", "1,abc")]).unwrap_err().to_string().starts_with("ADMIN_USER_IDS"));
        assert!(cfg(&[("VANTA_HTTP_ADDR", "nope")]).is_err());
        assert!(cfg(&[("TELEGRAM_API_URL", "ftp://x")]).is_err());
        assert!(cfg(&[("TELEGRAM_WEBHOOK_SECRET", "has spaces")]).is_err());
    }

    #[test]
    fn chainlink_feeds_default_disable_or_list() {
        assert_eq!(cfg(&[]).unwrap().chainlink_feeds, ChainlinkFeedsSetting::BaseDefaults);
        assert_eq!(cfg(&[("CHAINLINK_FEEDS", "  ")]).unwrap().chainlink_feeds, ChainlinkFeedsSetting::BaseDefaults);
        assert_eq!(cfg(&[("CHAINLINK_FEEDS", "None")]).unwrap().chainlink_feeds, ChainlinkFeedsSetting::Disabled);
        let c = cfg(&[(
            "CHAINLINK_FEEDS",
            "btc-usd=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F, ETH/USD = 0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70,",
        )])
        .unwrap();
        assert_eq!(
            c.chainlink_feeds,
            ChainlinkFeedsSetting::Custom(vec![
                (PairSymbol::parse("BTC/USD").unwrap(), "0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F".to_owned()),
                (PairSymbol::parse("ETH/USD").unwrap(), "0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70".to_owned()),
            ])
        );
        for (bad, why) in [
            ("BTC/USD", "no '='"),
            ("=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F", "not a pair"),
            ("BTC/USD=64c911996D3c6aC71f9b455B1E8E7266BcbD848F", "must start with 0x"),
            ("BTC/USD=0x1234", "40 hex digits"),
            ("BTC/USD=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F,BTCUSD=0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70", "twice"),
            (",", "no feed"),
        ] {
            let e = cfg(&[("CHAINLINK_FEEDS", bad)]).unwrap_err().to_string();
            assert!(e.starts_with("CHAINLINK_FEEDS: ") && e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn public_base_url_is_optional_and_checked() {
        assert_eq!(cfg(&[]).unwrap().public_base_url, None);
        assert_eq!(cfg(&[("PUBLIC_BASE_URL", " ")]).unwrap().public_base_url, None);
        assert_eq!(cfg(&[("PUBLIC_BASE_URL", "https://x.example/")]).unwrap().public_base_url.as_deref(), Some("https://x.example"));
        assert!(cfg(&[("PUBLIC_BASE_URL", "x.example")]).unwrap_err().to_string().starts_with("PUBLIC_BASE_URL"));
    }

    #[test]
    fn an_unreadable_stop_flag_is_a_stop() {
        assert!(cfg(&[("EMERGENCY_STOP", "maybe")]).unwrap().exec.emergency_stop);
        assert!(cfg(&[("EMERGENCY_STOP", "TRUE")]).unwrap().exec.emergency_stop);
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let c = cfg(&[("TELEGRAM_BOT_TOKEN", "123:supersecret"), ("TELEGRAM_WEBHOOK_SECRET", "hooksecret_1")]).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("supersecret") && !dbg.contains("hooksecret_1"), "{dbg}");
        let err = cfg(&[("TELEGRAM_WEBHOOK_SECRET", "bad secret!")]).unwrap_err().to_string();
        assert!(!err.contains("bad secret!"), "{err}");
    }
}
