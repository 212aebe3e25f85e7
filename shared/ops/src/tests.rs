#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use vanta_domain::exec::{ExecMode, StopLevel};
use vanta_domain::money::Bps;
use vanta_domain::risk::OperatorLimits;
use vanta_domain::time::Timestamp;

use crate::cli::{COMMANDS, Command, Parsed, parse};
use crate::preflight::{self, Report, Row, Verdict};
use crate::restore::{compact, parse_time};
use crate::settings::Settings;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

fn run(a: &[&str]) -> Command {
    match parse(&args(a)) {
        Ok(Parsed::Run { command, .. }) => command,
        other => panic!("{a:?}: {other:?}"),
    }
}

#[test]
fn commands_parse_with_their_options() {
    assert_eq!(run(&["exec-mode", "live", "--yes"]), Command::ExecMode { mode: ExecMode::Live, yes: true });
    assert_eq!(run(&["exec-mode", "DRY"]), Command::ExecMode { mode: ExecMode::Dry, yes: false });
    assert_eq!(run(&["stop"]), Command::Stop { level: StopLevel::PauseEntries });
    assert_eq!(run(&["stop", "FLATTEN"]), Command::Stop { level: StopLevel::Flatten });
    assert_eq!(
        run(&["restore", "--to-time", "2026-12-01T21:30:00Z", "--no-wait"]),
        Command::Restore { to_time: Some("2026-12-01T21:30:00Z".into()), target: None, settings_only: false, wait: false }
    );
    assert_eq!(
        run(&["resolve-intent", "abc", "--not-executed", "checked", "--yes"]),
        Command::ResolveIntent { id: "abc".into(), not_executed: Some("checked".into()), yes: true }
    );
    match parse(&args(&["--stack", "vanta-prod", "status"])).unwrap() {
        Parsed::Run { stack, command } => assert_eq!((stack.as_deref(), command), (Some("vanta-prod"), Command::Status)),
        other => panic!("{other:?}"),
    }
    match parse(&args(&["status", "--stack=s2"])).unwrap() {
        Parsed::Run { stack, .. } => assert_eq!(stack.as_deref(), Some("s2")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_command_has_help_and_bad_input_is_a_usage_error() {
    for c in COMMANDS {
        assert!(matches!(parse(&args(&[c, "--help"])), Ok(Parsed::Help(h)) if h.contains(c)), "{c}");
        assert!(crate::cli::USAGE.contains(c), "{c} in the usage");
    }
    assert!(matches!(parse(&args(&[])), Ok(Parsed::Help(_))));
    assert!(matches!(parse(&args(&["help", "restore"])), Ok(Parsed::Help(h)) if h.contains("--to-time")));
    for bad in [
        &["frobnicate"][..],
        &["exec-mode"],
        &["exec-mode", "MAYBE"],
        &["stop", "now"],
        &["status", "extra"],
        &["resume", "--yes"],
        &["restore"],
        &["restore", "--settings-only"],
        &["restore", "--to-time"],
        &["resolve-intent"],
        &["--stack"],
    ] {
        assert!(parse(&args(bad)).is_err(), "{bad:?}");
    }
}

#[test]
fn times_parse_exactly_or_not_at_all() {
    let t = parse_time("2026-12-01T21:30:05Z").unwrap();
    assert_eq!(crate::control::iso(t), "2026-12-01T21:30:05Z");
    assert_eq!(compact(t), "20261201T213005Z");
    assert_eq!(parse_time("1700000000").unwrap(), Timestamp::from_secs(1_700_000_000));
    assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), Timestamp::from_secs(0));
    assert_eq!(parse_time("2024-02-29T00:00:00Z").unwrap(), Timestamp::from_secs(1_709_164_800));
    for bad in ["", "2026-12-01", "2026-12-01 21:30:05Z", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-01T24:00:00Z", "x"] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
}

#[test]
fn operator_limits_out_of_bounds_are_problems() {
    assert!(preflight_limits(&OperatorLimits::default()).is_empty());
    let stale = OperatorLimits { max_price_age_secs: 0, ..Default::default() };
    assert!(preflight_limits(&stale)[0].contains("max price age"));
    let wide = OperatorLimits { max_price_deviation: Bps::new(500).unwrap(), ..Default::default() };
    assert!(preflight_limits(&wide)[0].contains("deviation"));
    let none = OperatorLimits { max_open_positions: 0, ..Default::default() };
    assert_eq!(preflight_limits(&none).len(), 1);
}

fn preflight_limits(l: &OperatorLimits) -> Vec<String> {
    crate::limits::problems(l)
}

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let m: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Settings::resolve(None, BTreeMap::new(), &|k| m.get(k).cloned()).unwrap()
}

#[test]
fn pins_are_built_in_on_base_and_can_be_added() {
    let base = preflight::pins(&settings(&[])).unwrap();
    assert_eq!(base.len(), preflight::PINNED_BASE_MAINNET.len());
    assert!(!base.contains_key("tradingRouter"), "the router is pinned by the operator");
    let more =
        preflight::pins(&settings(&[("VANTA_PINNED_ADDRESSES", "tradingRouter=0x5FbDB2315678afecb367f032d93F642f64180aa3")])).unwrap();
    assert_eq!(more.len(), base.len() + 1);
    let other_chain = preflight::pins(&settings(&[("CHAIN_ID", "31337")])).unwrap();
    assert!(other_chain.is_empty());
    assert!(preflight::pins(&settings(&[("VANTA_PINNED_ADDRESSES", "tradingRouter")])).is_err());
    assert!(preflight::pins(&settings(&[("VANTA_PINNED_ADDRESSES", "tradingRouter=0x12")])).is_err());
}

#[test]
fn settings_prefer_the_stack_and_name_the_default_secret_parameters() {
    let env: BTreeMap<String, String> =
        [("TABLE_NAME", "from-env"), ("ADMIN_USER_IDS", "5")].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let stack: BTreeMap<String, String> =
        [("TABLE_NAME", "from-stack"), ("ADMIN_USER_IDS", "")].iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let s = Settings::resolve(Some("vanta-prod".into()), stack, &|k| env.get(k).cloned()).unwrap();
    assert_eq!(s.get("TABLE_NAME"), Some("from-stack"));
    // An empty stack value leaves the environment's.
    assert_eq!(s.get("ADMIN_USER_IDS"), Some("5"));
    assert_eq!(s.get("TELEGRAM_BOT_TOKEN_PARAM"), Some("/vanta/vanta-prod/telegram-bot-token"));
    assert_eq!(s.get("TELEGRAM_WEBHOOK_SECRET_PARAM"), Some("/vanta/vanta-prod/telegram-webhook-secret"));
    let e = settings(&[]).require("ALARM_TOPIC_ARN").unwrap_err();
    assert!(e.contains("AlarmTopicArn") && e.contains("--stack"), "{e}");
}

#[test]
fn the_report_is_go_only_without_a_no_go() {
    let row = |check, verdict| Row { check, verdict, detail: "d".into() };
    let mut r = Report { rows: vec![row(preflight::EXEC_MODE, Verdict::Go), row(preflight::ALARMS, Verdict::Warn)] };
    assert!(r.go());
    assert!(r.render().ends_with("GO: every check passed\n"));
    r.rows.push(row(preflight::SIGNALS_DLQ, Verdict::NoGo));
    assert!(!r.go());
    assert_eq!(r.no_gos(), vec![preflight::SIGNALS_DLQ]);
    assert!(r.render().contains("NO-GO: signals DLQ"));
    // Alarm names: the prefix, every runbook anchor.
    let names = preflight::alarm_names(&settings(&[]));
    assert!(names.iter().all(|(n, _)| n.starts_with(preflight::DEFAULT_ALARM_PREFIX)));
    let names = preflight::alarm_names(&settings(&[("VANTA_ALARM_PREFIX", "vanta-prod-")]));
    assert!(names.iter().any(|(n, a)| n == "vanta-prod-stale-prices" && *a == "stale-prices"));
    // Without VANTA_ALARM_PREFIX, the stack name: the template names alarms `${AWS::StackName}-…`.
    let m: BTreeMap<String, String> = BTreeMap::new();
    let s = Settings::resolve(Some("vanta-staging".into()), BTreeMap::new(), &|k| m.get(k).cloned()).unwrap();
    let names = preflight::alarm_names(&s);
    assert_eq!(names.len(), preflight::REQUIRED_ALARMS.len());
    assert!(names.iter().any(|(n, a)| n == "vanta-staging-emergency-stop" && *a == "emergency-stop"));
    assert!(names.iter().all(|(n, _)| n.starts_with("vanta-staging-")));
}
