//! Least privilege, read from `template.yaml`: each function's role may do exactly what the
//! matrix below says (DynamoDB actions per partition-key pattern and index, the queues it sends to
//! or reads, the KMS keys it uses, the SSM parameters it reads) and nothing else. moto does not
//! enforce IAM, so this is the proof; `cfn-lint` and `sam validate --lint` check the syntax.
//!
//! The matrix is derived from the code (which store methods each function's handlers call, see
//! the notes in `MATRIX`), and tied to it twice: the patterns granted are exactly the partitions
//! `vanta_aws::dynamo::partitions` lists, and a moto test writes through every adapter and finds
//! each stored item's keys in that list. A new partition in the code fails until it is listed and
//! granted; a grant for a partition nobody writes fails too.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::{Mapping, Value};
use vanta_aws::dynamo::partitions;

// ---------------------------------------------------------------------------------------------
// The matrix

const GET: &str = "dynamodb:GetItem";
const QUERY: &str = "dynamodb:Query";
const PUT: &str = "dynamodb:PutItem";
const UPDATE: &str = "dynamodb:UpdateItem";
const DELETE: &str = "dynamodb:DeleteItem";
/// The table (its ARN, whichever table the stack uses) and its two indexes.
const TABLE: &str = "table";
const GSI1: &str = "table/index/gsi1";
const GSI2: &str = "table/index/gsi2";
const NONE: &[&str] = &[];

/// One grant: action, resource (a table symbol above, a resource's logical id, or
/// `ssm:<parameter>`), and the `dynamodb:LeadingKeys` patterns it is limited to (DynamoDB only).
type Grant = (&'static str, &'static str, &'static [&'static str]);

/// Function → everything its role may do. A reviewer reads this table; the test reads the
/// template and demands exactly it.
const MATRIX: &[(&str, &[Grant])] = &[
    // The bot: commands, menus, wallet proofs (the /link page: challenges, address claims, the
    // reconciler's watch), sources, follows, admin (exec mode, stop, /flatten_all), single-wallet
    // reconcile, and the operator's /health (heartbeats, the live book, queue depths). The only
    // function that writes CONTROL.
    (
        "TelegramFunction",
        &[
            (
                GET,
                TABLE,
                &[
                    "ADDR#*",
                    "CHALLENGE#*",
                    "CONTROL",
                    "INTENT#*",
                    "JOBS",
                    "MARKET",
                    "PAPER#*",
                    "PAPER_FILL#*",
                    "RECON",
                    "SOURCE#*",
                    "TRAILBOOK#*",
                    "USER#*",
                    "WINDOW#*",
                ],
            ),
            (QUERY, TABLE, &["CONTROL", "JOBS", "RECON", "USER#*"]),
            (QUERY, GSI1, &["LEADER#*", "USER#*"]),
            (QUERY, GSI2, &["ADDR#*", "LIVE_POS"]),
            (
                PUT,
                TABLE,
                &[
                    "ADDR#*",
                    "CHALLENGE#*",
                    "CONTROL",
                    "IDEM#*",
                    "INTENT#*",
                    "JOBS",
                    "MARK#*",
                    "RECON",
                    "SOURCE#*",
                    "TRAILBOOK#*",
                    "USER#*",
                    "WINDOW#*",
                ],
            ),
            (UPDATE, TABLE, &["CHALLENGE#*", "JOBS", "USER#*", "WINDOW#*"]),
            (DELETE, TABLE, &["ADDR#*", "USER#*"]),
            ("sqs:SendMessage", "SignalsQueue", NONE),
            ("sqs:SendMessage", "NotificationsQueue", NONE),
            ("sqs:GetQueueAttributes", "SignalsQueue", NONE),
            ("sqs:GetQueueAttributes", "SignalsDeadLetterQueue", NONE),
            // Delegate addresses: public keys only.
            ("kms:GetPublicKey", "SignerKey", NONE),
            ("kms:GetPublicKey", "SignerPoolKeyArns", NONE),
            // Creates and rotates sources: seals their secrets.
            ("kms:GenerateDataKey", "SourceSecretsKey", NONE),
            ("ssm:GetParameter", "ssm:TelegramBotTokenParameter", NONE),
            ("ssm:GetParameter", "ssm:TelegramWebhookSecretParameter", NONE),
            ("ssm:GetParameter", "ssm:BaseRpcUrlParameter", NONE),
        ],
    ),
    // Internet-facing: signal intake (api.rs, signals.rs: the source and its TradingView token,
    // the user, the pair catalog, the source's rate window, the intent with its idempotency
    // record, mark-inactive in outbox.rs) and /readyz (health.rs: the exec-control read). No
    // CONTROL write, no position write, no JOBS write, no RPC. `/health` and the wallet signing
    // page are the bot's.
    (
        "WebhookFunction",
        &[
            (GET, TABLE, &["CONTROL", "INTENT#*", "MARKET", "SOURCE#*", "USER#*", "WINDOW#*"]),
            (QUERY, TABLE, &["CONTROL"]),
            (QUERY, GSI2, &["TVTOKEN#*"]),
            (PUT, TABLE, &["IDEM#*", "INTENT#*", "WINDOW#*"]),
            (UPDATE, TABLE, &["USER#*", "WINDOW#*"]),
            ("sqs:SendMessage", "SignalsQueue", NONE),
            ("sqs:SendMessage", "NotificationsQueue", NONE),
            // Opens a source's sealed secret to verify a signal; the only decrypter.
            ("kms:Decrypt", "SourceSecretsKey", NONE),
        ],
    ),
    // The pipeline (worker.rs, pipeline.rs, copy.rs): intents, positions, the DRY paper book, the
    // direct route's nonce leases and transaction records; the one signer.
    (
        "SignalWorkerFunction",
        &[
            (GET, TABLE, &["ADDR#*", "CONTROL", "INTENT#*", "MARKET", "PAPER#*", "PAPER_FILL#*", "RECON", "TRAILBOOK#*", "USER#*"]),
            (QUERY, TABLE, &["NONCE#*", "TX#*", "USER#*"]),
            (QUERY, GSI1, &["LEADER#*"]),
            // The delegate pool: the user bound to an order's trader address.
            (QUERY, GSI2, &["ADDR#*"]),
            (PUT, TABLE, &["IDEM#*", "INTENT#*", "MARK#*", "NONCE#*", "PAPER#*", "PAPER_FILL#*", "RECON", "TRAILBOOK#*", "TX#*", "USER#*"]),
            (UPDATE, TABLE, &["JOBS", "NONCE#*", "TX#*", "USER#*"]),
            (DELETE, TABLE, &["NONCE#*", "USER#*"]),
            ("sqs:SendMessage", "SignalsQueue", NONE),
            ("sqs:SendMessage", "NotificationsQueue", NONE),
            ("sqs:ReceiveMessage", "SignalsQueue", NONE),
            ("sqs:DeleteMessage", "SignalsQueue", NONE),
            ("sqs:GetQueueAttributes", "SignalsQueue", NONE),
            ("kms:Sign", "SignerKey", NONE),
            ("kms:Sign", "SignerPoolKeyArns", NONE),
            ("kms:GetPublicKey", "SignerKey", NONE),
            ("kms:GetPublicKey", "SignerPoolKeyArns", NONE),
            ("ssm:GetParameter", "ssm:BaseRpcUrlParameter", NONE),
        ],
    ),
    // The TP/SL tick (schedule.rs tpsl_tick, tpsl_index.rs, flatten.rs on_tick): queues closes,
    // never signs; its own state under JOBS.
    (
        "TpslFunction",
        &[
            (GET, TABLE, &["CONTROL", "INTENT#*", "JOBS", "MARKET", "TRAILBOOK#*", "USER#*"]),
            (QUERY, TABLE, &["CONTROL", "JOBS"]),
            (QUERY, GSI1, &["CLOSING", "TRIG#*"]),
            (QUERY, GSI2, &["LIVE_POS"]),
            (PUT, TABLE, &["IDEM#*", "INTENT#*", "JOBS", "MARK#*", "TRAILBOOK#*", "USER#*"]),
            (UPDATE, TABLE, &["JOBS", "USER#*"]),
            (DELETE, TABLE, &["USER#*"]),
            ("sqs:SendMessage", "SignalsQueue", NONE),
            ("sqs:SendMessage", "NotificationsQueue", NONE),
            ("sqs:GetQueueAttributes", "SignalsQueue", NONE),
            ("sqs:GetQueueAttributes", "SignalsDeadLetterQueue", NONE),
            ("ssm:GetParameter", "ssm:BaseRpcUrlParameter", NONE),
        ],
    ),
    // The indexer tick (schedule.rs indexer_tick, reconcile.rs, market.rs, copy.rs): the catalog,
    // the reconciler's records, adopted and closed positions, copy intents.
    (
        "IndexerFunction",
        &[
            // PAPER#*, PAPER_FILL#*: the paper venue's keeper closes DRY trades (TP, SL, liquidation).
            (GET, TABLE, &["ADDR#*", "CONTROL", "INTENT#*", "MARKET", "PAPER#*", "PAPER_FILL#*", "RECON", "TRAILBOOK#*", "USER#*"]),
            (QUERY, TABLE, &["RECON", "USER#*"]),
            // The scans: users with a bound wallet (delegation expiry), unresolved intents.
            (QUERY, GSI1, &["LEADER#*", "WALLET_USER"]),
            (QUERY, GSI2, &["LIVE_POS", "OPEN_INTENT"]),
            (PUT, TABLE, &["IDEM#*", "INTENT#*", "JOBS", "MARK#*", "MARKET", "PAPER#*", "PAPER_FILL#*", "RECON", "TRAILBOOK#*", "USER#*"]),
            (UPDATE, TABLE, &["JOBS", "USER#*"]),
            (DELETE, TABLE, &["USER#*"]),
            ("sqs:SendMessage", "SignalsQueue", NONE),
            ("sqs:SendMessage", "NotificationsQueue", NONE),
            // The delegation scan asks the venue about each user's delegate: public keys only.
            ("kms:GetPublicKey", "SignerKey", NONE),
            ("kms:GetPublicKey", "SignerPoolKeyArns", NONE),
            ("ssm:GetParameter", "ssm:BaseRpcUrlParameter", NONE),
        ],
    ),
    // The notifier (notifier.rs, alarms.rs): reads its queue, marks users who blocked the bot.
    (
        "NotifierFunction",
        &[
            (GET, TABLE, &["USER#*"]),
            (UPDATE, TABLE, &["USER#*"]),
            ("sqs:ReceiveMessage", "NotificationsQueue", NONE),
            ("sqs:DeleteMessage", "NotificationsQueue", NONE),
            ("sqs:GetQueueAttributes", "NotificationsQueue", NONE),
            ("ssm:GetParameter", "ssm:TelegramBotTokenParameter", NONE),
        ],
    ),
];

/// (action, resource, pattern): one cell of the matrix. `pattern` is "" where the grant has no
/// key condition (non-DynamoDB resources).
type Cell = (String, String, String);

fn expected(function: &str) -> BTreeSet<Cell> {
    let grants = MATRIX.iter().find(|(f, _)| *f == function).unwrap_or_else(|| panic!("{function} has no row")).1;
    let mut out = BTreeSet::new();
    for (action, resource, keys) in grants {
        if keys.is_empty() {
            out.insert((action.to_string(), resource.to_string(), String::new()));
        }
        for k in *keys {
            out.insert((action.to_string(), resource.to_string(), k.to_string()));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading the template

fn template() -> Value {
    let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resources(t: &Value) -> &Mapping {
    t.get("Resources").and_then(Value::as_mapping).unwrap()
}

fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn functions(t: &Value) -> Vec<String> {
    resources(t)
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect()
}

/// Every IAM statement under `v` (both branches of an `!If` included).
fn collect_statements(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Mapping(m) => {
            if m.contains_key("Action") || m.contains_key("NotAction") {
                out.push(v.clone());
            }
            m.iter().for_each(|(_, x)| collect_statements(x, out));
        }
        Value::Sequence(s) => s.iter().for_each(|x| collect_statements(x, out)),
        Value::Tagged(tv) => collect_statements(&tv.value, out),
        _ => {}
    }
}

/// The statements that reach `function`'s role: its `Policies` and every `AWS::IAM::Policy` or
/// `AWS::IAM::ManagedPolicy` naming the role.
fn function_statements(t: &Value, function: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(p) = t["Resources"][function]["Properties"].get("Policies") {
        collect_statements(p, &mut out);
    }
    let role = format!("{function}Role");
    for (_, r) in resources(t) {
        let ty = r["Type"].as_str().unwrap_or_default();
        if ty != "AWS::IAM::Policy" && ty != "AWS::IAM::ManagedPolicy" {
            continue;
        }
        let roles = r["Properties"].get("Roles").and_then(Value::as_sequence).cloned().unwrap_or_default();
        if roles.iter().any(|x| tagged(x, "!Ref").and_then(Value::as_str) == Some(role.as_str())) {
            collect_statements(&r["Properties"]["PolicyDocument"], &mut out);
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().map(|a| a.as_str().unwrap_or_else(|| panic!("not a string: {a:?}")).to_owned()).collect(),
        other => panic!("expected a string or a list, got {other:?}"),
    }
}

/// `!If [CreateTable, !Ref VantaTable, !Ref TableName]`: the table the stack uses.
fn is_table_name(v: &Value) -> bool {
    let Some(Value::Sequence(args)) = tagged(v, "!If") else { return false };
    args.len() == 3
        && args[0].as_str() == Some("CreateTable")
        && tagged(&args[1], "!Ref").and_then(Value::as_str) == Some("VantaTable")
        && tagged(&args[2], "!Ref").and_then(Value::as_str) == Some("TableName")
}

/// Every `!Ref` name under `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Tagged(tv) if tv.tag == "!Ref" => {
            if let Some(s) = tv.value.as_str() {
                out.insert(s.to_owned());
            }
        }
        Value::Tagged(tv) => refs(&tv.value, out),
        Value::Mapping(m) => m.iter().for_each(|(_, x)| refs(x, out)),
        Value::Sequence(s) => s.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// What a `Resource` entry names, as a matrix symbol.
fn resource_symbol(r: &Value) -> String {
    if let Some(att) = tagged(r, "!GetAtt").and_then(Value::as_str)
        && let Some(id) = att.strip_suffix(".Arn")
    {
        return id.to_owned();
    }
    if let Some(Value::Sequence(args)) = tagged(r, "!Split")
        && args.first().and_then(Value::as_str) == Some(",")
        && let Some(p) = args.get(1).and_then(|a| tagged(a, "!Ref")).and_then(Value::as_str)
    {
        return p.to_owned();
    }
    if let Some(Value::Sequence(args)) = tagged(r, "!Sub")
        && let (Some(fmt), Some(vars)) = (args.first().and_then(Value::as_str), args.get(1))
    {
        let table = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Table}";
        if let Some(rest) = fmt.strip_prefix(table)
            && is_table_name(&vars["Table"])
        {
            return match rest {
                "" => TABLE.to_owned(),
                "/index/gsi1" => GSI1.to_owned(),
                "/index/gsi2" => GSI2.to_owned(),
                other => format!("table{other}"),
            };
        }
        if fmt == "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Name}" {
            let mut named = BTreeSet::new();
            refs(&vars["Name"], &mut named);
            named.retain(|n| n.ends_with("Parameter"));
            assert_eq!(named.len(), 1, "one SSM parameter per grant: {vars:?}");
            return format!("ssm:{}", named.first().unwrap());
        }
    }
    format!("unrecognised resource {r:?}")
}

/// The leading-key patterns of a statement's condition (None: no condition). Any other
/// condition is refused: the matrix knows only this one.
fn leading_keys(stmt: &Value) -> Option<Vec<String>> {
    let c = stmt.get("Condition")?;
    let m = c.as_mapping().unwrap();
    assert_eq!(m.len(), 1, "one condition operator: {c:?}");
    let inner = c.get("ForAllValues:StringLike").unwrap_or_else(|| panic!("only ForAllValues:StringLike on leading keys: {c:?}"));
    assert_eq!(inner.as_mapping().unwrap().len(), 1, "only dynamodb:LeadingKeys: {c:?}");
    Some(strings(inner.get("dynamodb:LeadingKeys").unwrap_or_else(|| panic!("only dynamodb:LeadingKeys: {c:?}"))))
}

/// Every cell a function's role is granted, by reading its statements.
fn granted(t: &Value, function: &str) -> BTreeSet<Cell> {
    let mut out = BTreeSet::new();
    for s in function_statements(t, function) {
        assert_eq!(s.get("Effect").and_then(Value::as_str), Some("Allow"), "{function}: {s:?}");
        assert!(s.get("NotAction").is_none() && s.get("NotResource").is_none(), "{function}: no Not* grants: {s:?}");
        let actions = strings(&s["Action"]);
        let resources: Vec<Value> = match &s["Resource"] {
            Value::Sequence(v) => v.clone(),
            one => vec![one.clone()],
        };
        let keys = leading_keys(&s);
        for a in &actions {
            for r in &resources {
                let sym = resource_symbol(r);
                match &keys {
                    None => {
                        out.insert((a.clone(), sym.clone(), String::new()));
                    }
                    Some(ks) => {
                        for k in ks {
                            out.insert((a.clone(), sym.clone(), k.clone()));
                        }
                    }
                }
            }
        }
    }
    out
}

fn is_write(action: &str) -> bool {
    ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert"]
        .contains(&action)
        || action.starts_with("dynamodb:PartiQL")
        || action.contains('*')
}

// ---------------------------------------------------------------------------------------------
// The template against the matrix

#[test]
fn each_function_is_granted_exactly_its_row_of_the_matrix() {
    let t = template();
    let all: BTreeSet<String> = functions(&t).into_iter().collect();
    let rows: BTreeSet<String> = MATRIX.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(all, rows, "every function has a row, and every row a function");
    let mut failures = Vec::new();
    for function in &all {
        let want = expected(function);
        let got = granted(&t, function);
        let missing: Vec<&Cell> = want.difference(&got).collect();
        let extra: Vec<&Cell> = got.difference(&want).collect();
        if !missing.is_empty() || !extra.is_empty() {
            failures.push(format!("{function}:\n  missing {missing:?}\n  beyond the matrix {extra:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_wildcard_action_no_wildcard_resource_no_sam_policy_template() {
    let t = template();
    for function in functions(&t) {
        for s in function_statements(&t, &function) {
            for a in strings(&s["Action"]) {
                assert!(!a.contains('*'), "{function}: wildcard action {a}");
            }
            let resources: Vec<Value> = match &s["Resource"] {
                Value::Sequence(v) => v.clone(),
                one => vec![one.clone()],
            };
            for r in resources {
                assert_ne!(r.as_str(), Some("*"), "{function}: Resource \"*\" in {s:?}");
            }
        }
        // SAM policy templates (DynamoDBCrudPolicy, SQSPollerPolicy, ...) grant whole tables and
        // queues: only inline statements.
        let policies =
            t["Resources"][function.as_str()]["Properties"].get("Policies").and_then(Value::as_sequence).cloned().unwrap_or_default();
        for p in policies {
            let keys: Vec<&str> = p.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
            assert_eq!(keys, ["Statement"], "{function}: an inline policy document only, not {keys:?}");
        }
        // A SAM SQS (or stream) event attaches a managed policy that reads every queue of the
        // account: queues are read by explicit event source mappings instead.
        if let Some(events) = t["Resources"][function.as_str()]["Properties"].get("Events").and_then(Value::as_mapping) {
            for (name, e) in events {
                let ty = e["Type"].as_str().unwrap();
                assert!(!["SQS", "DynamoDB", "Kinesis", "MSK", "MQ"].contains(&ty), "{function}: event {name:?} of type {ty}");
            }
        }
        assert!(t["Resources"][function.as_str()]["Properties"].get("Role").is_none(), "{function}: its own generated role");
    }
}

#[test]
fn only_the_bot_writes_the_control_partition() {
    let t = template();
    for function in functions(&t) {
        let writes_control: Vec<Cell> = granted(&t, &function)
            .into_iter()
            .filter(|(a, r, k)| is_write(a) && r.starts_with(TABLE) && (k.is_empty() || partitions::matches(k, "CONTROL")))
            .collect();
        if function == "TelegramFunction" {
            assert!(writes_control.iter().any(|(a, _, k)| a == PUT && k == "CONTROL"), "the bot writes the exec mode: {writes_control:?}");
        } else {
            assert!(writes_control.is_empty(), "{function} may write CONTROL (exec mode, stop, limits): {writes_control:?}");
        }
    }
    // The webhook faces the internet: none of the jobs' state, and under USER# only the profile
    // update of a wallet proof (UpdateItem): no position, follow or trigger item (PutItem/DeleteItem).
    let webhook = granted(&t, "WebhookFunction");
    for (a, _, k) in webhook.iter().filter(|(a, _, _)| is_write(a)) {
        assert_ne!(k, "JOBS", "webhook {a} on JOBS");
        assert!(k != "USER#*" || a == UPDATE, "webhook {a} on {k}");
    }
}

#[test]
fn keys_sign_encrypt_and_decrypt_only_where_the_code_does() {
    let t = template();
    let who = |action: &str| -> BTreeSet<String> {
        functions(&t).into_iter().filter(|f| granted(&t, f).iter().any(|(a, _, _)| a == action)).collect()
    };
    assert_eq!(who("kms:Sign"), BTreeSet::from(["SignalWorkerFunction".to_owned()]));
    assert_eq!(who("kms:Decrypt"), BTreeSet::from(["WebhookFunction".to_owned()]));
    assert!(who("kms:Encrypt").is_empty(), "data keys are generated, never a plain encrypt");
    assert_eq!(who("kms:GenerateDataKey"), BTreeSet::from(["TelegramFunction".to_owned()]));

    // The source-secrets key: symmetric, rotated, retained; its ARN (not a secret) is given to
    // the two functions that use it.
    let key = &t["Resources"]["SourceSecretsKey"];
    assert_eq!(key["Type"].as_str(), Some("AWS::KMS::Key"));
    assert_eq!(key["Properties"]["KeySpec"].as_str(), Some("SYMMETRIC_DEFAULT"));
    assert_eq!(key["Properties"]["KeyUsage"].as_str(), Some("ENCRYPT_DECRYPT"));
    assert_eq!(key["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    assert_eq!(key["DeletionPolicy"].as_str(), Some("Retain"), "sealed secrets outlive a deleted stack");
    let mut stmts = Vec::new();
    collect_statements(&key["Properties"]["KeyPolicy"], &mut stmts);
    // The key policy: administration for the account (no use of the key), then one use
    // statement per function, each bound to that function's role and to a source's context.
    const USE: [&str; 5] = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:*"];
    let mut uses = BTreeMap::new();
    for st in &stmts {
        let root = tagged(&st["Principal"]["AWS"], "!Sub").and_then(Value::as_str);
        assert_eq!(root, Some("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"), "{st:?}");
        let acts: Vec<String> = match &st["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Sequence(v) => v.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            other => panic!("action {other:?}"),
        };
        if acts.iter().any(|a| USE.contains(&a.as_str())) {
            assert_eq!(acts.len(), 1, "one use per statement: {st:?}");
            let role = tagged(&st["Condition"]["ArnEquals"]["aws:PrincipalArn"], "!GetAtt").and_then(Value::as_str).map(str::to_owned);
            assert_eq!(st["Condition"]["StringLike"]["kms:EncryptionContext:source"].as_str(), Some("?*"), "bound to a source: {st:?}");
            uses.insert(acts[0].clone(), role);
        }
    }
    assert_eq!(
        uses,
        BTreeMap::from([
            ("kms:Decrypt".to_owned(), Some("WebhookFunctionRole.Arn".to_owned())),
            ("kms:GenerateDataKey".to_owned(), Some("TelegramFunctionRole.Arn".to_owned())),
        ]),
        "the key policy lets the bot make data keys and the webhook open them, nobody else"
    );
    for function in functions(&t) {
        let env = &t["Resources"][function.as_str()]["Properties"]["Environment"]["Variables"];
        let var = env.get("SOURCE_SECRETS_KEY_ID");
        if function == "TelegramFunction" || function == "WebhookFunction" {
            assert_eq!(var.and_then(|v| tagged(v, "!GetAtt")).and_then(Value::as_str), Some("SourceSecretsKey.Arn"), "{function}");
        } else {
            assert!(var.is_none(), "{function} has no use for SOURCE_SECRETS_KEY_ID");
        }
    }
    let globals = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert!(globals.get("SOURCE_SECRETS_KEY_ID").is_none(), "not in every function's environment");
}

#[test]
fn the_granted_partitions_are_exactly_the_ones_the_code_lists() {
    let t = template();
    let mut by_resource: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for function in functions(&t) {
        for (_, r, k) in granted(&t, &function) {
            if r.starts_with(TABLE) {
                assert!(!k.is_empty(), "{function}: a DynamoDB grant without a leading-key condition on {r}");
                by_resource.entry(r).or_default().insert(k);
            }
        }
    }
    let listed = |l: &[&str]| -> BTreeSet<String> { l.iter().map(|s| s.to_string()).collect() };
    assert_eq!(by_resource.remove(TABLE).unwrap_or_default(), listed(partitions::TABLE), "table partitions: template vs vanta_aws");
    assert_eq!(by_resource.remove(GSI1).unwrap_or_default(), listed(partitions::GSI1), "gsi1 partitions: template vs vanta_aws");
    assert_eq!(by_resource.remove(GSI2).unwrap_or_default(), listed(partitions::GSI2), "gsi2 partitions: template vs vanta_aws");
    assert!(by_resource.is_empty(), "grants on other DynamoDB resources: {by_resource:?}");
    // The patterns never overlap, so a key is granted through exactly one of them.
    for list in [partitions::TABLE, partitions::GSI1, partitions::GSI2] {
        for a in list {
            for b in list.iter().filter(|b| *b != a) {
                let probe = a.replace('*', "x");
                assert!(!partitions::matches(b, &probe), "{a} and {b} overlap ({probe})");
            }
        }
    }
}

#[test]
fn the_table_is_a_parameter_with_deletion_protection() {
    let t = template();
    let param = &t["Parameters"]["TableName"];
    assert_eq!(param["Default"].as_str(), Some(""), "empty: the stack makes its own table");
    let cond = tagged(&t["Conditions"]["CreateTable"], "!Equals").and_then(Value::as_sequence).unwrap();
    assert_eq!(tagged(&cond[0], "!Ref").and_then(Value::as_str), Some("TableName"));
    assert_eq!(cond[1].as_str(), Some(""));
    let table = &t["Resources"]["VantaTable"];
    assert_eq!(table["Condition"].as_str(), Some("CreateTable"), "a named table is used, not created");
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(), Some(true));
    // Everything that names the table names whichever the stack uses.
    assert!(is_table_name(&t["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"]));
    assert!(is_table_name(&t["Outputs"]["TableName"]["Value"]));
    // VantaTable is referred to only inside that `!If` (nowhere unconditionally).
    fn bare_refs(v: &Value, inside_if: bool, out: &mut Vec<String>) {
        match v {
            Value::Tagged(tv) if tv.tag == "!If" => bare_refs(&tv.value, is_table_name(v) || inside_if, out),
            Value::Tagged(tv) if tv.tag == "!Ref" || tv.tag == "!GetAtt" => {
                let s = tv.value.as_str().unwrap_or_default();
                if (s == "VantaTable" || s.starts_with("VantaTable.")) && !inside_if {
                    out.push(s.to_owned());
                }
            }
            Value::Tagged(tv) => bare_refs(&tv.value, inside_if, out),
            Value::Mapping(m) => m.iter().for_each(|(_, x)| bare_refs(x, inside_if, out)),
            Value::Sequence(s) => s.iter().for_each(|x| bare_refs(x, inside_if, out)),
            Value::String(s) if s.contains("${VantaTable") => out.push(s.clone()),
            _ => {}
        }
    }
    let mut bare = Vec::new();
    for (name, r) in resources(&t) {
        if name.as_str() != Some("VantaTable") {
            bare_refs(r, false, &mut bare);
        }
    }
    bare_refs(&t["Outputs"], false, &mut bare);
    bare_refs(&t["Globals"], false, &mut bare);
    assert!(bare.is_empty(), "VantaTable named outside !If [CreateTable, ...]: {bare:?}");
}

#[test]
fn functions_deploy_gradually_and_roll_back_on_their_errors_alarm() {
    let t = template();
    assert_eq!(t["Globals"]["Function"]["AutoPublishAlias"].as_str(), Some("live"), "versions behind an alias");
    for function in functions(&t) {
        let p = &t["Resources"][function.as_str()]["Properties"];
        let pref = &p["DeploymentPreference"];
        let ty = pref["Type"].as_str().unwrap_or_else(|| panic!("{function} has no DeploymentPreference"));
        let http = p.get("Events").and_then(Value::as_mapping).is_some_and(|e| e.values().any(|e| e["Type"].as_str() == Some("HttpApi")));
        if http || function == "SignalWorkerFunction" {
            assert!(ty.starts_with("Canary") || ty.starts_with("Linear"), "{function}: a gradual shift, not {ty}");
        }
        // Its own errors alarm judges the new version.
        let alarm = format!("{}ErrorsAlarm", function.trim_end_matches("Function"));
        let alarms: Vec<&str> =
            pref["Alarms"].as_sequence().unwrap().iter().map(|a| tagged(a, "!Ref").and_then(Value::as_str).unwrap()).collect();
        assert!(alarms.contains(&alarm.as_str()), "{function}: {alarms:?}");
        let dims = t["Resources"][alarm.as_str()]["Properties"]["Dimensions"].as_sequence().unwrap();
        assert!(
            dims.iter().any(|d| d["Name"].as_str() == Some("FunctionName")
                && tagged(&d["Value"], "!Ref").and_then(Value::as_str) == Some(function.as_str())),
            "{alarm} watches {function}"
        );
    }
    // Queue consumers read through mappings that invoke the alias, so they shift too.
    for (mapping, function, queue) in [
        ("SignalWorkerQueueMapping", "SignalWorkerFunction", "SignalsQueue"),
        ("NotifierQueueMapping", "NotifierFunction", "NotificationsQueue"),
    ] {
        let m = &t["Resources"][mapping];
        assert_eq!(m["Type"].as_str(), Some("AWS::Lambda::EventSourceMapping"));
        assert_eq!(tagged(&m["Properties"]["FunctionName"], "!Ref").and_then(Value::as_str), Some(format!("{function}.Alias").as_str()));
        assert_eq!(tagged(&m["Properties"]["EventSourceArn"], "!GetAtt").and_then(Value::as_str), Some(format!("{queue}.Arn").as_str()));
        assert_eq!(m["Properties"]["BatchSize"].as_u64(), Some(1));
    }
}

// ---------------------------------------------------------------------------------------------
// The code against the list: every item the adapters write is in a listed partition

mod stored {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use std::sync::Arc;

    use alloy::primitives::{Address, Bytes, U256};

    use aws_sdk_dynamodb::Client;

    use aws_sdk_dynamodb::types::AttributeValue;
    use vanta_aws::direct::{DynamoNonceLease, DynamoTxStore};
    use vanta_aws::dynamo::{DynamoStore, partitions};
    use vanta_domain::catalog::{CatalogStore, StoredCatalog};
    use vanta_domain::direct::NonceLease;
    use vanta_domain::direct::{TxRecord, TxStore};
    use vanta_domain::exec::{ExecControl, ExecMode, FlattenRun, StopLevel};
    use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
    use vanta_domain::intent::{CreateOutcome, Intent, IntentState, Transition};
    use vanta_domain::limits::StoredLimits;
    use vanta_domain::market::{PairCatalog, PairIndex, Side};
    use vanta_domain::money::{Bps, Leverage, Price, Usdc};
    use vanta_domain::paper::{PaperAccount, PaperStore};
    use vanta_domain::ports::{
        ControlStore, FollowStore, IndexState, IntentStore, MarkerStore, PositionStore, SourceStore, TriggerStore, UserStore, VenueFill,
    };
    use vanta_domain::position::{Position, PositionStatus};
    use vanta_domain::recon::ReconWallet;
    use vanta_domain::time::{Clock, ManualClock, Timestamp};
    use vanta_domain::triggers::TrailBook;
    use vanta_domain::user::{CopySizing, Follow, LeaderRef, SignalSource, User};
    use vanta_domain::wallet::{SiweSite, WalletChallenge};

    use crate::support::{eth_open_intent, eth_position, moto_table};

    const T0: i64 = 1_800_000_000_000;

    fn uid(n: i64) -> TelegramUserId {
        TelegramUserId(n)
    }

    fn address(last: u8) -> TraderAddress {
        format!("0x{:040x}", u128::from(last) + 0xabc0_0000).parse().unwrap()
    }

    fn position(id: &str, user: i64, status: PositionStatus) -> Position {
        Position {
            tp: Some(Price::from_whole(3_300).unwrap()),
            sl: Some(Price::from_whole(2_800).unwrap()),
            opened_at: Timestamp(T0),
            ..eth_position(id, user, status)
        }
    }

    fn open_intent(id: &str, user: i64) -> Intent {
        eth_open_intent(id, user, T0, "hash")
    }

    async fn scan(client: &Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = client.scan().table_name(table).set_exclusive_start_key(start.take()).send().await.unwrap();
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return out,
            }
        }
    }

    /// Writes through every adapter method that creates an item (the store, the direct route's
    /// leases and records), then finds each stored item's `pk`, `gsi1pk` and `gsi2pk` under
    /// exactly one listed pattern, and each listed pattern used.
    #[tokio::test]
    async fn every_item_the_adapters_write_is_in_a_listed_partition() {
        let (_moto, client, table) = moto_table("vanta-iam").await;
        let s = DynamoStore::new(client.clone(), table.clone());

        // Users, wallet proofs, claims.
        let alice = s.get_or_create_user(User::new(uid(1), ChatId(1), Timestamp(T0))).await.unwrap();
        s.get_or_create_user(User::new(uid(2), ChatId(2), Timestamp(T0))).await.unwrap();
        s.bind_address(alice.id, address(1)).await.unwrap();
        let site = SiweSite::from_base_url(Some("https://vanta.example.com"));
        let c = WalletChallenge::new("nonce0001", uid(2), address(2), &site, 8453, Timestamp(T0)).unwrap();
        s.put_challenge(&c).await.unwrap();
        // Control (the bot), the jobs' state (the schedules), limits, the reconciler.
        s.put_exec_control(&ExecControl {
            mode: ExecMode::Dry,
            stop: StopLevel::None,
            updated_by: Some(uid(1)),
            updated_at: Timestamp(T0),
            version: 1,
        })
        .await
        .unwrap();
        s.put_stored_limits(&StoredLimits { max_open_positions: Some(3), updated_at: Timestamp(T0), ..StoredLimits::default() })
            .await
            .unwrap();
        s.put_heartbeat("tpsl", Timestamp(T0)).await.unwrap();
        s.put_flatten_run(&FlattenRun { activation: 1, started_at: Timestamp(T0), by: None, targets: Default::default(), ended_at: None })
            .await
            .unwrap();
        s.put_index_state(&IndexState { version: 1, cursor: None }).await.unwrap();
        s.put_recon_wallet(&ReconWallet::new(address(1))).await.unwrap();
        // Intents, positions (open: LIVE_POS and trigger entries; closing: CLOSING), trail books.
        assert!(matches!(s.create_intent(&open_intent("sig-1", 1)).await.unwrap(), CreateOutcome::Created));
        // Sent, outcome not yet known: the unresolved-intent entry (OPEN_INTENT).
        let sig = IntentId::parse("sig-1").unwrap();
        for (from, to) in [(IntentState::Received, IntentState::Validated), (IntentState::Validated, IntentState::Submitted)] {
            s.transition(&sig, &Transition::new(from, to, Timestamp(T0 + 1)).unwrap()).await.unwrap();
        }
        let open = position("p-open", 1, PositionStatus::Open);
        s.insert_position(&open).await.unwrap();
        let mut closing = position("p-closing", 1, PositionStatus::Open);
        s.insert_position(&closing).await.unwrap();
        closing.status = PositionStatus::Closing;
        s.update_position(&closing, PositionStatus::Open).await.unwrap();
        s.put_trail_book(&open.pair, Side::Long, &TrailBook::default()).await.unwrap();
        // Sources, follows, markers, rate windows, the catalog, the paper book.
        let src = SignalSource {
            id: SourceId::parse("src-1").unwrap(),
            owner: uid(1),
            secret: vanta_domain::sealed::SourceSecret::Sealed(vanta_domain::sealed::SealedSecret {
                version: 1,
                ciphertext: b"sealed-secret-of-src-1".to_vec(),
                nonce: vec![7; 12],
                wrapped_key: b"dk-src-1".to_vec(),
            }),
            tv_token_hash: "ab".repeat(32),
            active: true,
            created_at: Timestamp(T0),
            rotated_at: None,
        };
        s.create_source(&src).await.unwrap();
        let follow = Follow {
            follower: uid(2),
            leader: LeaderRef::User(uid(1)),
            sizing: CopySizing::Ratio { ratio: Bps::new(5_000).unwrap() },
            max_leverage: Leverage::from_whole(5).unwrap(),
            per_trade_cap: Usdc::from_whole(50).unwrap(),
            daily_cap: Usdc::from_whole(200).unwrap(),
            counter: false,
            adopt_existing: false,
            stop_after_losses: 0,
            max_drawdown: Usdc::ZERO,
            active: true,
            since: Timestamp(T0),
        };
        s.put_follow(&follow).await.unwrap();
        assert!(s.mark_once("seen:x", Timestamp(T0), Timestamp(T0 + 60_000)).await.unwrap());
        assert!(s.hit_window("rate:x", Timestamp(T0), Timestamp(T0 + 60_000), 5).await.unwrap());
        s.put_catalog(&StoredCatalog { catalog: PairCatalog::default(), fetched_at: Timestamp(T0) }).await.unwrap();
        let fill = VenueFill {
            pair: PairIndex(1),
            trade_index: 0,
            side: Side::Long,
            price: Price::from_whole(3_000).unwrap(),
            collateral: Usdc::from_whole(100).unwrap(),
            leverage: Leverage::from_whole(10).unwrap(),
            fee: Usdc::ZERO,
            at: Timestamp(T0),
            venue_ref: "paper".into(),
            open_time: None,
        };
        let intent_id = IntentId::parse("sig-1").unwrap();
        s.commit_paper(&PaperAccount::fresh(address(1)), Some((&intent_id, &fill))).await.unwrap();
        // The direct route: a nonce lease and a transaction record.
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(T0)));
        let lease = DynamoNonceLease::new(client.clone(), table.clone(), clock);
        let from = Address::repeat_byte(0x11);
        lease.acquire(from, 0).await.unwrap();
        let txs = DynamoTxStore::new(client.clone(), table.clone());
        txs.create(&TxRecord::new("tx-1", 8453, from, Address::repeat_byte(0x22), U256::ZERO, Bytes::new(), Timestamp(T0))).await.unwrap();

        // Every key in one listed partition, every listed partition used.
        let lists: [(&str, &[&str]); 3] = [("pk", partitions::TABLE), ("gsi1pk", partitions::GSI1), ("gsi2pk", partitions::GSI2)];
        let mut used: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let items = scan(&client, &table).await;
        assert!(items.len() > 20, "{} items", items.len());
        for item in &items {
            for (attr, list) in lists {
                let Some(key) = item.get(attr).and_then(|v| v.as_s().ok()) else { continue };
                let hits: Vec<&str> = list.iter().copied().filter(|p| partitions::matches(p, key)).collect();
                assert_eq!(hits.len(), 1, "{attr} {key:?} matches {hits:?} of {list:?} (item sk {:?})", item.get("sk"));
                used.entry(attr).or_default().insert(hits[0]);
            }
        }
        for (attr, list) in lists {
            let unused: Vec<&str> = list.iter().copied().filter(|p| !used.get(attr).is_some_and(|u| u.contains(p))).collect();
            assert!(unused.is_empty(), "{attr}: listed (and granted) but written by nothing here: {unused:?}");
        }
        // Nothing the schedules keep is under CONTROL any more: only the exec control and limits.
        let control: BTreeSet<String> = items
            .iter()
            .filter(|i| i.get("pk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("CONTROL"))
            .map(|i| i["sk"].as_s().unwrap().clone())
            .collect();
        assert_eq!(control, BTreeSet::from(["EXEC_MODE".to_owned(), "LIMITS".to_owned()]));
    }
}

// ---------------------------------------------------------------------------------------------
// What SAM makes of it: the roles it generates carry nothing beyond the template's statements

/// The Python of the tool venv (`make tools`): the one `VANTA_MOTO_SERVER` lives in, else `.venv`.
fn tools_python() -> std::path::PathBuf {
    let moto = std::env::var("VANTA_MOTO_SERVER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server"));
    moto.with_file_name("python")
}

const SAM_TRANSFORM: &str = r#"
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
class NoManagedPolicies:
    def load(self):
        return {}
t = yaml_parse(open(sys.argv[1]).read())
t["Globals"]["Function"]["CodeUri"] = "s3://bucket/key"  # sam build puts the artifacts there
out = transform(t, {}, NoManagedPolicies())
res = out["Resources"]
roles = {k: {"managed": v["Properties"].get("ManagedPolicyArns", []), "inline": [s for p in v["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]} for k, v in res.items() if v["Type"] == "AWS::IAM::Role"}
mappings = {k: v["Properties"]["FunctionName"] for k, v in res.items() if v["Type"] == "AWS::Lambda::EventSourceMapping"}
print("RESULT " + json.dumps({"roles": roles, "mappings": mappings}))
"#;

#[test]
fn the_roles_sam_generates_hold_only_the_template_statements_and_the_logging_policies() {
    let python = tools_python();
    assert!(python.exists(), "{} missing: run `make tools`, or set VANTA_MOTO_SERVER to the venv's moto_server", python.display());
    let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let out =
        std::process::Command::new(&python).args(["-c", SAM_TRANSFORM, &path]).env("AWS_DEFAULT_REGION", "us-east-1").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "SAM transform failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let json = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).unwrap();
    let result: serde_json::Value = serde_json::from_str(json).unwrap();
    let t = template();
    for function in functions(&t) {
        let role = &result["roles"][format!("{function}Role")];
        // Logs and X-Ray (Tracing: Active) only; no managed policy that reads queues or tables.
        let managed: BTreeSet<&str> = role["managed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let want = BTreeSet::from([
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        ]);
        assert_eq!(managed, want, "{function}");
        // Its inline statements are the template's (nothing added by an event source).
        let mut own = Vec::new();
        if let Some(p) = t["Resources"][function.as_str()]["Properties"].get("Policies") {
            collect_statements(p, &mut own);
        }
        assert_eq!(role["inline"].as_array().unwrap().len(), own.len(), "{function}: {}", role["inline"]);
    }
    for (mapping, function) in [("SignalWorkerQueueMapping", "SignalWorkerFunction"), ("NotifierQueueMapping", "NotifierFunction")] {
        assert_eq!(result["mappings"][mapping]["Ref"], format!("{function}Aliaslive"), "{mapping} invokes the live alias");
    }
}
