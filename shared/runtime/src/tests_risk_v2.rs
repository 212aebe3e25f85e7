//! The risk engine the DRY paper fills take their spread from (`VERANTA_RISK_V2_API_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use crate::config::{Config, ConfigError};

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_lookup(|k| m.get(k).cloned())
}

#[test]
fn the_risk_engine_hangs_off_the_gateway_like_the_sdks() {
    assert_eq!(cfg(&[]).unwrap().avantis.risk_v2.as_deref(), Some("https://prod-api.veranta.xyz/risk/v2"));
    let t = cfg(&[("VERANTA_NETWORK", "testnet")]).unwrap();
    assert_eq!(t.avantis.risk_v2, Some(format!("{}/risk/v2", t.avantis.gateway)));
    let g = cfg(&[("VERANTA_API_BASE_URL", "http://127.0.0.1:9/")]).unwrap();
    assert_eq!(g.avantis.risk_v2.as_deref(), Some("http://127.0.0.1:9/risk/v2"));
}

#[test]
fn the_risk_engine_can_be_named_or_turned_off() {
    let c = cfg(&[("VERANTA_RISK_V2_API_URL", "https://risk.example/v2/")]).unwrap();
    assert_eq!(c.avantis.risk_v2.as_deref(), Some("https://risk.example/v2"));
    assert_eq!(cfg(&[("VERANTA_RISK_V2_API_URL", "None")]).unwrap().avantis.risk_v2, None, "the catalog's spreadP then");
    assert!(matches!(cfg(&[("VERANTA_RISK_V2_API_URL", "risk.example")]), Err(ConfigError::Invalid { .. })));
}
