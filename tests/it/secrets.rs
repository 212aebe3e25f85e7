//! Secrets stay out of the environment: `template.yaml` gives functions the NAMES of SSM
//! SecureString parameters (never a value, never a NoEcho parameter, no keyed RPC URL), each
//! function may `ssm:GetParameter` exactly the parameters it names, and the functions read them
//! at cold start from SSM (moto): a missing or malformed parameter fails the start with an error
//! that names the parameter and shows no secret.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::json;
use serde_yaml::Value;
use tokio::process::Child;
use vanta_lambda::secrets::{self, SecretNames};
use vanta_testkit::fake_kms::FakeKms;
use vanta_testkit::lambda_api::{FakeLambdaApi, Outcome};
use vanta_testkit::moto::Moto;
use vanta_testkit::net::repo_root;

// ------------------------------------------------------------------------------ the template

fn template() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(repo_root().join("template.yaml")).unwrap()).unwrap()
}

fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn functions(t: &Value) -> Vec<String> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect()
}

/// A function's environment as deployed: the Globals' variables, then its own.
fn environment(t: &Value, function: &str) -> BTreeMap<String, Value> {
    let mut env = BTreeMap::new();
    for vars in [&t["Globals"]["Function"]["Environment"]["Variables"], &t["Resources"][function]["Properties"]["Environment"]["Variables"]]
    {
        if let Some(m) = vars.as_mapping() {
            for (k, v) in m {
                env.insert(k.as_str().unwrap().to_owned(), v.clone());
            }
        }
    }
    env
}

/// Every template parameter a value refers to (`!Ref X`, `${X}` in `!Sub`), through any intrinsic.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Tagged(tv) if tv.tag == "!Ref" => {
            if let Some(s) = tv.value.as_str() {
                out.insert(s.to_owned());
            }
        }
        Value::Tagged(tv) if tv.tag == "!Sub" => {
            let (text, vars) = match &tv.value {
                Value::String(s) => (s.clone(), None),
                Value::Sequence(s) => (s.first().and_then(Value::as_str).unwrap_or_default().to_owned(), s.get(1)),
                _ => (String::new(), None),
            };
            for part in text.split("${").skip(1) {
                if let Some(name) = part.split('}').next() {
                    out.insert(name.split('.').next().unwrap_or_default().to_owned());
                }
            }
            if let Some(vars) = vars {
                refs(vars, out);
            }
        }
        Value::Tagged(tv) => refs(&tv.value, out),
        Value::Mapping(m) => m.iter().for_each(|(_, x)| refs(x, out)),
        Value::Sequence(s) => s.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn no_echo_parameters(t: &Value) -> BTreeSet<String> {
    t["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, p)| p.get("NoEcho").is_some_and(|n| n.as_bool() == Some(true) || n.as_str() == Some("true")))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect()
}

/// A name that says "secret": TOKEN, SECRET, PASSWORD, PRIVATE or KEY (a KMS key id or ARN is
/// not a secret).
fn secret_like_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    if n.ends_with("_KEY_ID") || n.ends_with("_KEY_ARN") || n.ends_with("_KEY_ARNS") {
        return false;
    }
    ["TOKEN", "SECRET", "PASSWORD", "PRIVATE", "KEY", "MNEMONIC"].iter().any(|w| n.contains(w))
}

/// A literal that looks like a credential: a bot token (`<digits>:<20+ chars>`) or a long hex
/// or base64-ish run.
fn secret_like_literal(v: &str) -> bool {
    let bot_token = v.split_once(':').is_some_and(|(a, b)| !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.len() >= 20);
    let long_run = v.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w.len() >= 32);
    bot_token || long_run
}

/// An RPC URL with a path, a query or user info: where providers put their API key.
fn keyed_url(v: &str) -> bool {
    v.split_once("://").is_some_and(|(_, rest)| rest.trim_end_matches('/').contains(['/', '?', '@']))
}

/// Whether a parameter's `AllowedPattern` admits only a host (no path, no query): a keyed RPC
/// URL cannot be passed as a plain parameter.
fn host_only_url_pattern(p: &Value) -> bool {
    let Some(pattern) = p.get("AllowedPattern").and_then(Value::as_str) else { return false };
    let Some(rest) = pattern.split_once("://").map(|(_, r)| r) else { return false };
    let Some(host) = rest.strip_suffix("/?$") else { return false };
    // `?` here only makes the port optional; no `/` means no path, no `[^…]` no open-ended run.
    !host.contains('/') && !host.contains("\\s") && !host.contains("[^") && !host.contains(".*")
}

const PARAM_VARS: [&str; 3] = [secrets::BOT_TOKEN_PARAM, secrets::WEBHOOK_SECRET_PARAM, secrets::RPC_URL_PARAM];

#[test]
fn no_secret_is_an_environment_variable_or_an_output() {
    let t = template();
    let params = t["Parameters"].as_mapping().unwrap();
    let no_echo = no_echo_parameters(&t);
    for function in functions(&t) {
        for (name, value) in environment(&t, &function) {
            let mut used = BTreeSet::new();
            refs(&value, &mut used);
            let leaked: Vec<_> = used.intersection(&no_echo).collect();
            assert!(leaked.is_empty(), "{function}: {name} carries the NoEcho parameter(s) {leaked:?}");
            if let Some(literal) = value.as_str() {
                assert!(!secret_like_literal(literal), "{function}: {name} = {literal:?} looks like a credential");
            }
            // Parameters' defaults count as literals too (a default token would be deployed).
            for p in &used {
                if let Some(default) = params.get(p.as_str()).and_then(|p| p.get("Default")).and_then(Value::as_str) {
                    assert!(!secret_like_literal(default), "{function}: {name} defaults to {default:?}");
                }
            }
            if PARAM_VARS.contains(&name.as_str()) {
                // A parameter's NAME: the parameters it uses are names (`/...`), not values.
                for p in &used {
                    if let Some(def) = params.get(p.as_str()) {
                        let pattern = def.get("AllowedPattern").and_then(Value::as_str).unwrap_or_default();
                        assert!(pattern.starts_with("^(|/"), "{function}: {name} uses {p}, which is not an SSM parameter name");
                    }
                }
                continue;
            }
            assert!(!secret_like_name(&name), "{function}: {name} looks like a secret in the environment");
            if name.contains("RPC") {
                if let Some(literal) = value.as_str() {
                    assert!(!keyed_url(literal), "{function}: {name} = {literal:?} may carry an API key");
                }
                for p in &used {
                    if let Some(def) = params.get(p.as_str()) {
                        assert!(host_only_url_pattern(def), "{function}: {name} takes {p}, which admits a keyed URL");
                        let default = def.get("Default").and_then(Value::as_str).unwrap_or_default();
                        assert!(!keyed_url(default), "{function}: {name} defaults to a keyed URL");
                    }
                }
            }
        }
    }
    for (name, output) in t["Outputs"].as_mapping().unwrap() {
        let mut used = BTreeSet::new();
        refs(&output["Value"], &mut used);
        assert!(used.is_disjoint(&no_echo), "output {name:?} shows a NoEcho parameter");
        if let Some(literal) = output["Value"].as_str() {
            assert!(!secret_like_literal(literal), "output {name:?} looks like a credential");
        }
    }
    // The secrets of old are gone for good: no parameter holds a Telegram secret's value.
    for old in ["TelegramBotToken", "TelegramWebhookSecret"] {
        assert!(params.get(old).is_none(), "parameter {old} takes a secret's value");
    }
}

/// Which secret a parameter-name expression (or an IAM resource built from one) stands for.
fn which_secret(v: &Value) -> Option<&'static str> {
    let text = format!("{v:?}");
    [("TelegramBotTokenParameter", "bot-token"), ("TelegramWebhookSecretParameter", "webhook-secret"), ("BaseRpcUrlParameter", "rpc-url")]
        .into_iter()
        .find(|(p, _)| text.contains(p))
        .map(|(_, s)| s)
}

/// Every IAM statement of a function: its `Policies` and the `AWS::IAM::Policy` resources on its role.
fn function_statements(t: &Value, function: &str) -> Vec<Value> {
    fn collect(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Mapping(m) => {
                if m.contains_key("Action") {
                    out.push(v.clone());
                }
                m.iter().for_each(|(_, x)| collect(x, out));
            }
            Value::Sequence(s) => s.iter().for_each(|x| collect(x, out)),
            Value::Tagged(tv) => collect(&tv.value, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    collect(&t["Resources"][function]["Properties"]["Policies"], &mut out);
    let role = format!("{function}Role");
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::IAM::Policy") {
            continue;
        }
        let on_role = r["Properties"]["Roles"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|x| tagged(x, "!Ref").and_then(Value::as_str) == Some(role.as_str()));
        if on_role {
            collect(&r["Properties"]["PolicyDocument"], &mut out);
        }
    }
    out
}

fn actions(stmt: &Value) -> Vec<String> {
    match &stmt["Action"] {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        other => panic!("unexpected Action {other:?}"),
    }
}

#[test]
fn each_function_names_and_may_read_exactly_the_secrets_it_needs() {
    let t = template();
    // The token: the bot and the notifier (the only senders; the others queue their notices).
    // The webhook secret: the bot. A keyed RPC URL: every function that calls Base RPC (not
    // the signal API, which reads no chain).
    let expected: BTreeMap<&str, BTreeSet<&str>> = [
        ("TelegramFunction", BTreeSet::from(["bot-token", "webhook-secret", "rpc-url"])),
        ("NotifierFunction", BTreeSet::from(["bot-token"])),
        ("WebhookFunction", BTreeSet::new()),
        ("SignalWorkerFunction", BTreeSet::from(["rpc-url"])),
        ("TpslFunction", BTreeSet::from(["rpc-url"])),
        ("IndexerFunction", BTreeSet::from(["rpc-url"])),
    ]
    .into_iter()
    .collect();
    let all = functions(&t);
    assert_eq!(all.iter().map(String::as_str).collect::<BTreeSet<_>>(), expected.keys().copied().collect(), "a new function needs its row");
    for (function, want) in &expected {
        let env = environment(&t, function);
        let named: BTreeMap<&str, &Value> = PARAM_VARS.iter().filter_map(|v| env.get(*v).map(|x| (*v, x))).collect();
        let named_secrets: BTreeSet<&str> = named.values().map(|v| which_secret(v).unwrap()).collect();
        assert_eq!(&named_secrets, want, "{function} names these parameters: {named:?}");
        let ssm: Vec<Value> = function_statements(&t, function)
            .into_iter()
            .filter(|s| actions(s).iter().any(|a| a.starts_with("ssm:") || a == "*"))
            .collect();
        let mut readable = BTreeSet::new();
        for s in &ssm {
            assert_eq!(actions(s), ["ssm:GetParameter"], "{function}: reads one parameter at a time, nothing else: {s:?}");
            let resource = &s["Resource"];
            let sub = tagged(resource, "!Sub").and_then(Value::as_sequence).unwrap_or_else(|| panic!("{function}: {resource:?}"));
            assert_eq!(
                sub[0].as_str(),
                Some("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Name}"),
                "{function}: one parameter's ARN, no wildcard"
            );
            let secret = which_secret(resource).unwrap();
            // The ARN is built from the very name the function is given.
            let var = PARAM_VARS.iter().find(|v| named.get(*v).is_some_and(|x| which_secret(x) == Some(secret))).unwrap();
            assert_eq!(&sub[1]["Name"], named[var], "{function}: the grant and {var} name the same parameter");
            readable.insert(secret);
        }
        assert_eq!(&readable, want, "{function} may read these parameters");
    }
}

// ------------------------------------------------------------------------------ cold start

async fn moto_ssm() -> (Moto, aws_config::SdkConfig) {
    let moto = Moto::start().await.unwrap();
    let cfg = crate::support::sdk_config(&moto.endpoint).await;
    (moto, cfg)
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter().name(name).value(value).r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.unwrap();
}

const TOKEN: &str = "123456:AAE_do-not-print-this-token";
const HOOK: &str = "hook_secret_do_not_print_0123456789";
const RPC: &str = "https://base-mainnet.example.org/v2/do-not-print-this-key";

#[tokio::test]
async fn cold_start_reads_each_named_secret_from_ssm_once() {
    let (_moto, cfg) = moto_ssm().await;
    let ssm = aws_sdk_ssm::Client::new(&cfg);
    put(&ssm, "/vanta/it/telegram-bot-token", TOKEN).await;
    put(&ssm, "/vanta/it/telegram-webhook-secret", HOOK).await;
    put(&ssm, "/vanta/it/base-rpc-url", &format!("{RPC}/")).await;
    let names = SecretNames {
        telegram_bot_token: Some("/vanta/it/telegram-bot-token".into()),
        telegram_webhook_secret: Some("/vanta/it/telegram-webhook-secret".into()),
        base_rpc_url: Some("/vanta/it/base-rpc-url".into()),
    };
    let config = vanta_runtime::Config::from_lookup(|_| None).unwrap();
    assert!(config.telegram_bot_token.is_none());
    let config = secrets::open(config, &ssm, &names).await.unwrap();
    assert_eq!(config.telegram_bot_token.as_ref().unwrap().expose_secret(), TOKEN);
    assert_eq!(config.telegram_webhook_secret.as_ref().unwrap().expose_secret(), HOOK);
    assert_eq!(config.base_rpc_url, RPC, "trailing slash trimmed like BASE_RPC_URL");
    let debug = format!("{config:?}");
    assert!(!debug.contains("do-not-print-this-token") && !debug.contains(HOOK), "Debug redacts secrets: {debug}");

    // Only what is named is read: the notifier's names leave the rest untouched.
    let only_token = SecretNames { telegram_bot_token: names.telegram_bot_token.clone(), ..SecretNames::default() };
    let c = secrets::open(vanta_runtime::Config::from_lookup(|_| None).unwrap(), &ssm, &only_token).await.unwrap();
    assert!(c.telegram_webhook_secret.is_none());
    assert_eq!(c.base_rpc_url, "https://mainnet.base.org");
}

#[tokio::test]
async fn a_missing_or_malformed_parameter_fails_the_cold_start_without_showing_a_secret() {
    let (_moto, cfg) = moto_ssm().await;
    let ssm = aws_sdk_ssm::Client::new(&cfg);
    put(&ssm, "/vanta/it/telegram-bot-token", TOKEN).await;
    put(&ssm, "/vanta/it/bad-hook", "do not print: has spaces").await;
    let base = || vanta_runtime::Config::from_lookup(|_| None).unwrap();

    let missing = SecretNames {
        telegram_bot_token: Some("/vanta/it/telegram-bot-token".into()),
        telegram_webhook_secret: Some("/vanta/it/nope".into()),
        ..SecretNames::default()
    };
    let err = secrets::open(base(), &ssm, &missing).await.unwrap_err().to_string();
    assert!(err.contains("TELEGRAM_WEBHOOK_SECRET_PARAM") && err.contains("/vanta/it/nope") && err.contains("ParameterNotFound"), "{err}");
    assert!(!err.contains("do-not-print"), "{err}");

    let malformed = SecretNames { telegram_webhook_secret: Some("/vanta/it/bad-hook".into()), ..SecretNames::default() };
    let err = secrets::open(base(), &ssm, &malformed).await.unwrap_err().to_string();
    assert!(err.contains("/vanta/it/bad-hook") && !err.contains("do not print"), "{err}");

    let not_a_token = SecretNames { telegram_bot_token: Some("/vanta/it/bad-hook".into()), ..SecretNames::default() };
    let err = secrets::open(base(), &ssm, &not_a_token).await.unwrap_err().to_string();
    assert!(err.contains("TELEGRAM_BOT_TOKEN_PARAM") && !err.contains("do not print"), "{err}");

    let not_a_url = SecretNames { base_rpc_url: Some("/vanta/it/telegram-bot-token".into()), ..SecretNames::default() };
    let err = secrets::open(base(), &ssm, &not_a_url).await.unwrap_err().to_string();
    assert!(err.contains("BASE_RPC_URL_PARAM") && !err.contains("do-not-print"), "{err}");
}

// ------------------------------------------------------------------------------ the real binary

const WAIT: Duration = Duration::from_secs(60);

fn spawn(bin: &str, api: &FakeLambdaApi, env: &[(&str, String)]) -> Child {
    let mut cmd = crate::support::lambda_command(bin, api);
    cmd.env("RUST_LOG", "info")
        // Telegram itself is not reachable: the command menu registration fails quietly.
        .env("TELEGRAM_API_URL", "http://127.0.0.1:9")
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn telegram_update(secret: &str) -> serde_json::Value {
    let mut e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("events").join("apigw-telegram-update.json")).unwrap()).unwrap();
    e["headers"]["x-telegram-bot-api-secret-token"] = json!(secret);
    e
}

#[tokio::test]
async fn the_bot_binary_takes_its_webhook_secret_from_ssm_and_refuses_to_start_without_it() {
    let (moto, cfg) = moto_ssm().await;
    let ssm = aws_sdk_ssm::Client::new(&cfg);
    let table = "vanta-secrets-it".to_owned();
    vanta_aws::dynamo::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table).await.unwrap();
    put(&ssm, "/vanta/it/telegram-bot-token", TOKEN).await;
    put(&ssm, "/vanta/it/telegram-webhook-secret", HOOK).await;
    let kms = FakeKms::start().await.unwrap();
    let key = kms.import_key(&[7u8; 32]).unwrap();
    let base = vec![
        ("TABLE_NAME", table.clone()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_ENDPOINT_URL_KMS", kms.endpoint.clone()),
        ("KMS_KEY_ID", key),
        ("TELEGRAM_BOT_TOKEN_PARAM", "/vanta/it/telegram-bot-token".to_owned()),
    ];

    // Started with the names only: Telegram's updates need the secret from SSM.
    let api = FakeLambdaApi::start().await.unwrap();
    let mut env = base.clone();
    env.push(("TELEGRAM_WEBHOOK_SECRET_PARAM", "/vanta/it/telegram-webhook-secret".to_owned()));
    let child = spawn("telegram", &api, &env);
    let status = |o: Outcome| match o {
        Outcome::Response(v) => v["statusCode"].as_u64().unwrap(),
        Outcome::Error(e) => panic!("function error: {e}"),
    };
    assert_eq!(status(api.invoke(&telegram_update("wrong_secret_0123456789"), WAIT).await.unwrap()), 401);
    assert_eq!(status(api.invoke(&telegram_update(HOOK), WAIT).await.unwrap()), 200, "the secret read from SSM is the one checked");
    let mut child = child;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!logs.contains("do-not-print") && !logs.contains(HOOK), "a secret reached the logs: {logs}");

    // A missing parameter: the cold start fails, names the parameter and shows no secret.
    let api = FakeLambdaApi::start().await.unwrap();
    let mut env = base.clone();
    env.push(("TELEGRAM_WEBHOOK_SECRET_PARAM", "/vanta/it/not-created".to_owned()));
    let child = spawn("telegram", &api, &env);
    let out = tokio::time::timeout(WAIT, child.wait_with_output()).await.unwrap().unwrap();
    assert!(!out.status.success());
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(logs.contains("/vanta/it/not-created") && logs.contains("ParameterNotFound"), "{logs}");
    assert!(!logs.contains("do-not-print") && !logs.contains(HOOK), "a secret reached the logs: {logs}");
}
