//! `template.yaml` grants signing to exactly the function that signs and with exactly the
//! delegate keys: the signal worker may `kms:Sign` with the stack's key and the pool keys
//! (`SignerPoolKeyArns`, the `KMS_POOL_KEY_ARNS` the code reads) and nothing else; the bot reads
//! their public keys only; no other function touches KMS. The grants are also checked against what
//! each function's `main.rs` asks the wiring for (`Signing::Yes`, `AddressOnly`, `No`).

use serde_yaml::Value;
use serde_yaml::value::TaggedValue;

fn template() -> Value {
    let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resources(t: &Value) -> &serde_yaml::Mapping {
    t.get("Resources").and_then(Value::as_mapping).unwrap()
}

fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

/// Every IAM statement (a mapping with `Action`) anywhere under `v`, both branches of `!If` included.
fn statements(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Mapping(m) => {
            if m.contains_key("Action") {
                out.push(v.clone());
            }
            for (_, x) in m {
                statements(x, out);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|x| statements(x, out)),
        Value::Tagged(t) => statements(&t.value, out),
        _ => {}
    }
}

fn actions(stmt: &Value) -> Vec<String> {
    match stmt.get("Action").unwrap() {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        other => panic!("unexpected Action {other:?}"),
    }
}

fn grants(stmt: &Value, action: &str) -> bool {
    actions(stmt).iter().any(|a| a == action || a == "*" || a == "kms:*" || (a.ends_with('*') && action.starts_with(&a[..a.len() - 1])))
}

/// The KMS statements that apply to function `name`: its own `Policies` and every
/// `AWS::IAM::Policy` attached to its generated role.
fn kms_statements(t: &Value, name: &str) -> Vec<Value> {
    let res = resources(t);
    let f = res.get(name).unwrap_or_else(|| panic!("no resource {name}"));
    assert_eq!(f.get("Type").and_then(Value::as_str), Some("AWS::Serverless::Function"));
    let mut all = Vec::new();
    if let Some(p) = f.get("Properties").and_then(|p| p.get("Policies")) {
        statements(p, &mut all);
    }
    let role = format!("{name}Role");
    for (_, r) in res {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::IAM::Policy") {
            continue;
        }
        let props = r.get("Properties").unwrap();
        let roles = props.get("Roles").and_then(Value::as_sequence).unwrap();
        if roles.iter().any(|x| tagged(x, "!Ref").and_then(Value::as_str) == Some(role.as_str())) {
            statements(props.get("PolicyDocument").unwrap(), &mut all);
        }
    }
    all.into_iter().filter(|s| actions(s).iter().any(|a| a.starts_with("kms:") || a == "*")).collect()
}

/// What a statement's `Resource` names: the stack's key, the pool keys, or something else.
#[derive(Debug, PartialEq)]
enum Named {
    StackKey,
    PoolKeys,
    Other(String),
}

fn resource(stmt: &Value) -> Named {
    let r = stmt.get("Resource").unwrap();
    if tagged(r, "!GetAtt").and_then(Value::as_str) == Some("SignerKey.Arn") {
        return Named::StackKey;
    }
    if let Some(Value::Sequence(args)) = tagged(r, "!Split")
        && args.first().and_then(Value::as_str) == Some(",")
        && args.get(1).and_then(|a| tagged(a, "!Ref")).and_then(Value::as_str) == Some("SignerPoolKeyArns")
    {
        return Named::PoolKeys;
    }
    Named::Other(format!("{r:?}"))
}

fn signing_of(function_dir: &str) -> &'static str {
    let main = std::fs::read_to_string(format!("{}/../functions/{function_dir}/src/main.rs", env!("CARGO_MANIFEST_DIR"))).unwrap();
    // `api_deps` (webhook) and `notifier_deps` load no key at all.
    if main.contains("vanta_lambda::api_deps(") || main.contains("vanta_lambda::notifier_deps(") {
        return "Signing::No";
    }
    ["Signing::Yes", "Signing::AddressOnly", "Signing::ReadsOnly", "Signing::No"].into_iter().find(|s| main.contains(s)).unwrap()
}

#[test]
fn only_the_signal_worker_signs_and_only_with_the_delegate_keys() {
    let t = template();

    // The signal worker: kms:Sign on exactly the stack's key and the pool keys.
    assert_eq!(signing_of("signal-worker"), "Signing::Yes");
    let worker = kms_statements(&t, "SignalWorkerFunction");
    let signing: Vec<&Value> = worker.iter().filter(|s| grants(s, "kms:Sign")).collect();
    let named: Vec<Named> = signing.iter().map(|s| resource(s)).collect();
    assert!(named.contains(&Named::StackKey), "the worker signs with the stack's key: {named:?}");
    assert!(named.contains(&Named::PoolKeys), "the worker signs with the pool keys: {named:?}");
    assert!(named.iter().all(|k| !matches!(k, Named::Other(_))), "only the delegate keys: {named:?}");
    for s in &worker {
        assert!(s.get("Condition").is_none(), "grants name keys, not conditions on key/*: {s:?}");
        for a in actions(s) {
            assert!(a == "kms:Sign" || a == "kms:GetPublicKey", "the worker needs nothing else from KMS: {a}");
        }
    }

    // The bot shows delegate addresses: public keys only, of the same keys.
    assert_eq!(signing_of("telegram"), "Signing::AddressOnly");
    let bot = kms_statements(&t, "TelegramFunction");
    assert!(bot.iter().all(|s| !grants(s, "kms:Sign")), "the bot never signs: {bot:?}");
    let read: Vec<Named> = bot.iter().filter(|s| grants(s, "kms:GetPublicKey")).map(resource).collect();
    assert!(read.contains(&Named::StackKey) && read.contains(&Named::PoolKeys), "the bot reads every delegate's public key: {read:?}");
    assert!(read.iter().all(|k| !matches!(k, Named::Other(_))), "and no other key: {read:?}");

    // Nothing else touches KMS (the tpsl tick only queues intents), whatever functions are added.
    for (function, dir) in [("WebhookFunction", "webhook"), ("TpslFunction", "tpsl")] {
        assert_eq!(signing_of(dir), "Signing::No", "{function} builds no signer");
    }
    // The indexer reads the venue with a signer that refuses every signature (no key at all).
    assert_eq!(signing_of("indexer"), "Signing::ReadsOnly", "IndexerFunction builds no key");
    let functions: Vec<String> = resources(&t)
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    assert!(functions.len() >= 5, "{functions:?}");
    // The source-secrets key (kms:GenerateDataKey for the bot, kms:Decrypt for the webhook) is
    // checked in tests/it/envelope.rs; it is no delegate key.
    let signer_statements = |f: &str| -> Vec<Value> {
        kms_statements(&t, f)
            .into_iter()
            .filter(|s| tagged(&s["Resource"], "!GetAtt").and_then(Value::as_str) != Some("SourceSecretsKey.Arn"))
            .collect()
    };
    // The indexer's delegation scan reads the delegate addresses: public keys only, same keys.
    let indexer = signer_statements("IndexerFunction");
    assert!(!indexer.is_empty(), "the indexer reads the delegate public keys");
    for s in &indexer {
        assert_eq!(actions(s), ["kms:GetPublicKey"], "the indexer reads public keys only: {s:?}");
        assert!(!matches!(resource(s), Named::Other(_)), "only the delegate keys: {s:?}");
    }
    for function in functions.iter().filter(|f| !["SignalWorkerFunction", "TelegramFunction", "IndexerFunction"].contains(&f.as_str())) {
        assert!(signer_statements(function).is_empty(), "{function} gets no KMS permission on the delegate keys");
    }
}

#[test]
fn the_key_policy_lets_only_the_worker_sign_and_the_pool_reaches_the_code() {
    let t = template();
    let res = resources(&t);
    let key = res.get("SignerKey").unwrap();
    let mut stmts = Vec::new();
    statements(key.get("Properties").unwrap().get("KeyPolicy").unwrap(), &mut stmts);
    let signers: Vec<&Value> = stmts.iter().filter(|s| actions(s).iter().any(|a| a == "kms:Sign")).collect();
    assert_eq!(signers.len(), 1, "one statement allows signing: {signers:?}");
    let who = signers[0].get("Condition").and_then(|c| c.get("ArnEquals")).and_then(|c| c.get("aws:PrincipalArn")).unwrap();
    let arns: Vec<&str> = match who {
        Value::Sequence(s) => s.iter().map(|x| tagged(x, "!GetAtt").and_then(Value::as_str).unwrap()).collect(),
        other => vec![tagged(other, "!GetAtt").and_then(Value::as_str).unwrap()],
    };
    assert_eq!(arns, ["SignalWorkerFunctionRole.Arn"]);

    // The pool parameter is what the code reads as KMS_POOL_KEY_ARNS.
    let env = t.get("Globals").and_then(|g| g.get("Function")).and_then(|f| f.get("Environment")).and_then(|e| e.get("Variables")).unwrap();
    let pool = env.get("KMS_POOL_KEY_ARNS").unwrap();
    assert_eq!(pool, &Value::Tagged(Box::new(TaggedValue { tag: serde_yaml::value::Tag::new("Ref"), value: "SignerPoolKeyArns".into() })));
    // The signer-role output names exactly the roles that may sign.
    let outputs = t.get("Outputs").unwrap();
    let value = outputs.get("SignerRoleArns").and_then(|o| o.get("Value")).unwrap();
    assert_eq!(tagged(value, "!GetAtt").and_then(Value::as_str), Some("SignalWorkerFunctionRole.Arn"));
}
