//! Veranta 2.2 settings: the SDK's network profiles, `VERANTA_*` overrides, and the pre-rename
//! `AVANTIS_*` names still read with a warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::{AvantisRoute, Config, ConfigError, DeprecatedName, VERANTA_DELEGATE_UI_URL, VerantaNetwork};

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_lookup(|k| m.get(k).cloned())
}

/// The old venue domain, spelt so this file does not contain it.
fn old_domain() -> String {
    ["avantisfi", "com"].join(".")
}

#[test]
fn defaults_are_the_sdk_mainnet_profile() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.veranta_network, VerantaNetwork::Mainnet);
    let u = &c.avantis;
    assert_eq!(u.gateway, "https://prod-api.veranta.xyz");
    assert_eq!(u.tx_builder, "https://tx-builder.veranta.xyz");
    assert_eq!(u.batched_market, "https://prod-api.veranta.xyz/batched-market");
    assert_eq!(u.core, "https://prod-api.veranta.xyz/core");
    assert_eq!(u.data, "https://prod-api.veranta.xyz/data");
    assert_eq!(u.history, "https://api.veranta.xyz");
    assert_eq!(u.feed, "https://feed-v3.veranta.xyz");
    assert_eq!(c.avantis_route, AvantisRoute::Relayer);
    assert_eq!(c.chain_id, 8453);
    assert_eq!(c.base_rpc_url, "https://mainnet.base.org");
    assert!(c.deprecated_names.is_empty());
    assert_eq!(VERANTA_DELEGATE_UI_URL, "https://delegate.veranta.xyz");
}

#[test]
fn no_code_default_names_the_old_domain() {
    let c = cfg(&[]).unwrap();
    let all = format!("{:?} {:?}", c.avantis, VerantaNetwork::Testnet.profile());
    assert!(!all.contains(&old_domain()), "{all}");
    let source = include_str!("config.rs");
    assert!(!source.contains(&old_domain()), "config.rs still names the old hosts");
}

#[test]
fn testnet_is_one_setting() {
    let c = cfg(&[("VERANTA_NETWORK", "Testnet")]).unwrap();
    assert_eq!(c.veranta_network, VerantaNetwork::Testnet);
    let u = &c.avantis;
    assert_eq!(u.gateway, "https://staging-api.veranta.xyz");
    assert_eq!(u.tx_builder, "https://tx-builder-testnet.veranta.xyz");
    assert_eq!(u.batched_market, "https://staging-api.veranta.xyz/batched-market");
    assert_eq!(u.core, "https://staging-api.veranta.xyz/core");
    assert_eq!(u.data, "https://staging-api.veranta.xyz/data");
    assert_eq!(u.history, "https://testnet-api.veranta.xyz");
    assert_eq!(u.feed, "https://feed-v3-testnet.veranta.xyz");
    assert_eq!(
        cfg(&[("VERANTA_NETWORK", "sepolia")]).unwrap_err().to_string(),
        "VERANTA_NETWORK: must be mainnet or testnet, not 'sepolia'"
    );
}

#[test]
fn overrides_beat_the_profile_and_routed_services_follow_the_gateway() {
    let c = cfg(&[
        ("VERANTA_NETWORK", "testnet"),
        ("VERANTA_API_BASE_URL", "http://127.0.0.1:9000/"),
        ("VERANTA_CORE_API_URL", "http://127.0.0.1:9001"),
    ])
    .unwrap();
    let u = &c.avantis;
    assert_eq!(u.gateway, "http://127.0.0.1:9000");
    assert_eq!(u.batched_market, "http://127.0.0.1:9000/batched-market");
    assert_eq!(u.data, "http://127.0.0.1:9000/data");
    assert_eq!(u.core, "http://127.0.0.1:9001", "a per-service override beats the gateway's route");
    assert_eq!(u.tx_builder, "https://tx-builder-testnet.veranta.xyz", "hosts not overridden stay the profile's");

    let c = cfg(&[
        ("VERANTA_TX_BUILDER_URL", "http://tx"),
        ("VERANTA_BATCHED_MARKET_URL", "http://bm"),
        ("VERANTA_DATA_API_URL", "http://data"),
        ("VERANTA_HISTORY_API_URL", "http://hist"),
        ("VERANTA_FEED_URL", "http://feed"),
    ])
    .unwrap();
    let u = &c.avantis;
    assert_eq!((u.tx_builder.as_str(), u.batched_market.as_str(), u.data.as_str()), ("http://tx", "http://bm", "http://data"));
    assert_eq!((u.history.as_str(), u.feed.as_str()), ("http://hist", "http://feed"));
    assert_eq!(u.core, "https://prod-api.veranta.xyz/core");

    assert_eq!(cfg(&[("VERANTA_FEED_URL", "feed.example")]).unwrap_err().to_string(), "VERANTA_FEED_URL: must be an http(s) URL");
}

#[test]
fn execution_maps_onto_the_route() {
    assert_eq!(cfg(&[("VERANTA_EXECUTION", "DIRECT")]).unwrap().avantis_route, AvantisRoute::Direct);
    assert_eq!(cfg(&[("VERANTA_EXECUTION", "relayer")]).unwrap().avantis_route, AvantisRoute::Relayer);
    assert_eq!(cfg(&[("VERANTA_EXECUTION", "gasless")]).unwrap_err().to_string(), "VERANTA_EXECUTION: must be relayer or direct");
    // The old name, and the new one winning over it.
    assert_eq!(cfg(&[("AVANTIS_ROUTE", "direct")]).unwrap().avantis_route, AvantisRoute::Direct);
    assert_eq!(cfg(&[("AVANTIS_ROUTE", "direct"), ("VERANTA_EXECUTION", "relayer")]).unwrap().avantis_route, AvantisRoute::Relayer);
    // A bad old value is reported under the old name, the one the operator set.
    assert_eq!(cfg(&[("AVANTIS_ROUTE", "x")]).unwrap_err().to_string(), "AVANTIS_ROUTE: must be relayer or direct");
}

#[test]
fn old_names_are_honoured_and_the_new_ones_win() {
    let c = cfg(&[
        ("AVANTIS_API_URL", "http://old-tx"),
        ("AVANTIS_BATCHED_MARKET_URL", "http://old-bm"),
        ("AVANTIS_CORE_API_URL", "http://old-core"),
        ("AVANTIS_DATA_API_URL", "http://old-data"),
        ("AVANTIS_NETWORK", "testnet"),
    ])
    .unwrap();
    let u = &c.avantis;
    assert_eq!(c.veranta_network, VerantaNetwork::Testnet);
    assert_eq!((u.tx_builder.as_str(), u.batched_market.as_str()), ("http://old-tx", "http://old-bm"));
    assert_eq!((u.core.as_str(), u.data.as_str()), ("http://old-core", "http://old-data"));
    assert_eq!(c.deprecated_names.len(), 5);
    assert!(c.deprecated_names.contains(&DeprecatedName { old: "AVANTIS_API_URL", new: "VERANTA_TX_BUILDER_URL", ignored: false }));

    let c = cfg(&[("AVANTIS_CORE_API_URL", "http://old-core"), ("VERANTA_CORE_API_URL", "http://new-core")]).unwrap();
    assert_eq!(c.avantis.core, "http://new-core");
    assert_eq!(c.deprecated_names, vec![DeprecatedName { old: "AVANTIS_CORE_API_URL", new: "VERANTA_CORE_API_URL", ignored: true }]);
}

#[test]
fn rpc_url_base_first_then_the_sdk_name() {
    assert_eq!(cfg(&[("VERANTA_RPC_URL", "http://sdk-rpc")]).unwrap().base_rpc_url, "http://sdk-rpc");
    assert_eq!(cfg(&[("VERANTA_RPC_URL", "http://sdk-rpc"), ("BASE_RPC_URL", "http://base-rpc")]).unwrap().base_rpc_url, "http://base-rpc");
    let c = cfg(&[("AVANTIS_RPC_URL", "http://old-rpc")]).unwrap();
    assert_eq!(c.base_rpc_url, "http://old-rpc");
    assert_eq!(c.deprecated_names, vec![DeprecatedName { old: "AVANTIS_RPC_URL", new: "VERANTA_RPC_URL", ignored: false }]);
    // A keyed URL never shows in the error.
    let e = cfg(&[("VERANTA_RPC_URL", "wss://rpc.example/v2/SECRETKEY")]).unwrap_err().to_string();
    assert_eq!(e, "VERANTA_RPC_URL: must be an http(s) URL");
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_of(c: &Config) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).with_max_level(tracing::Level::INFO).finish();
    tracing::subscriber::with_default(subscriber, || c.warn_deprecated_names());
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn each_old_name_warns_once_naming_the_new_one() {
    let c = cfg(&[
        ("AVANTIS_ROUTE", "direct"),
        ("AVANTIS_API_URL", "http://old-tx"),
        ("AVANTIS_DATA_API_URL", "http://d"),
        ("VERANTA_DATA_API_URL", "http://n"),
    ])
    .unwrap();
    let logs = logs_of(&c);
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 3, "{logs}");
    assert!(lines.iter().all(|l| l.contains("WARN")), "{logs}");
    assert!(lines.iter().any(|l| l.contains("AVANTIS_ROUTE is deprecated") && l.contains("set VERANTA_EXECUTION instead")), "{logs}");
    assert!(
        lines.iter().any(|l| l.contains("AVANTIS_API_URL is deprecated") && l.contains("set VERANTA_TX_BUILDER_URL instead")),
        "{logs}"
    );
    assert!(lines.iter().any(|l| l.contains("AVANTIS_DATA_API_URL is ignored because VERANTA_DATA_API_URL is set")), "{logs}");
    assert!(!logs.contains("http://old-tx"), "values are not logged: {logs}");

    assert_eq!(logs_of(&cfg(&[("VERANTA_EXECUTION", "direct")]).unwrap()), "", "new names log nothing");
}
