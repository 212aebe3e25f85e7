//! `template.yaml`'s alarms, dashboard and alarm delivery: each alarm watches the metric the code
//! emits (the names in `vanta_app::emf::names`), with its threshold, reaches the alarm topic, and
//! says what to do with a link to its runbook section; the topic reaches the notifier (and so the
//! admins on Telegram) as well as e-mail; the dashboard shows every application metric.

use serde_yaml::{Mapping, Value};
use vanta_app::emf::{self, names};

fn template() -> Value {
    let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resources(t: &Value) -> &Mapping {
    t.get("Resources").and_then(Value::as_mapping).unwrap()
}

fn props<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = resources(t).get(name).unwrap_or_else(|| panic!("no resource {name}"));
    r.get("Properties").unwrap()
}

/// The `!Ref` target of a value, or the string itself.
fn target(v: &Value) -> String {
    match v {
        Value::Tagged(t) => target(&t.value),
        Value::String(s) => s.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Tagged(t) => text(&t.value),
        Value::String(s) => s.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

struct Expect {
    id: &'static str,
    metric: &'static str,
    dims: &'static [(&'static str, &'static str)],
    stat: &'static str,
    op: &'static str,
    threshold: f64,
    period: u64,
    anchor: &'static str,
}

const EXPECTED: &[Expect] = &[
    Expect {
        id: "LowSuccessRateAlarm",
        metric: names::INTENT_SUCCESS_RATE,
        dims: &[],
        stat: "Average",
        op: "LessThanThreshold",
        threshold: 90.0,
        period: 900,
        anchor: "low-success-rate",
    },
    Expect {
        id: "StalePricesAlarm",
        metric: names::PRICE_STALENESS,
        dims: &[],
        stat: "Maximum",
        op: "GreaterThanThreshold",
        threshold: 30.0,
        period: 60,
        anchor: "stale-prices",
    },
    Expect {
        id: "TpslScheduleMissedAlarm",
        metric: names::SCHEDULE_RUNS,
        dims: &[("job", "tpsl")],
        stat: "Sum",
        op: "LessThanThreshold",
        threshold: 1.0,
        period: 300,
        anchor: "schedule-missed",
    },
    Expect {
        id: "IndexerScheduleMissedAlarm",
        metric: names::SCHEDULE_RUNS,
        dims: &[("job", "indexer")],
        stat: "Sum",
        op: "LessThanThreshold",
        threshold: 1.0,
        period: 300,
        anchor: "schedule-missed",
    },
    Expect {
        id: "EmergencyStopAlarm",
        metric: names::EMERGENCY_STOP,
        dims: &[],
        stat: "Maximum",
        op: "GreaterThanOrEqualToThreshold",
        threshold: 1.0,
        period: 60,
        anchor: "emergency-stop",
    },
    Expect {
        id: "DelegationExpiryAlarm",
        metric: names::DELEGATION_EXPIRY,
        dims: &[],
        stat: "Minimum",
        op: "LessThanThreshold",
        threshold: 604_800.0,
        period: 3600,
        anchor: "delegation-expiry",
    },
];

fn num(v: &Value) -> f64 {
    v.as_f64().or_else(|| v.as_u64().map(|n| n as f64)).unwrap()
}

/// Alarm actions and OK actions both go to the alarm topic.
fn assert_reaches_topic(p: &Value, id: &str) {
    for key in ["AlarmActions", "OKActions"] {
        let actions: Vec<String> =
            p.get(key).and_then(Value::as_sequence).unwrap_or_else(|| panic!("{id}: {key}")).iter().map(target).collect();
        assert_eq!(actions, vec!["AlarmTopic".to_owned()], "{id}: {key}");
    }
}

/// The description says what to do and links its runbook section under the RunbookUrl parameter.
fn assert_says_what_to_do(p: &Value, id: &str, anchor: &str) {
    let d = text(p.get("AlarmDescription").unwrap());
    assert!(d.contains("What to do: "), "{id}: {d}");
    assert!(d.contains(&format!("Runbook: ${{RunbookUrl}}#{anchor}")), "{id}: {d}");
    assert!(d.len() < 1024, "{id}: CloudWatch's limit");
}

#[test]
fn each_application_alarm_watches_the_emitted_metric_with_its_threshold() {
    let t = template();
    for e in EXPECTED {
        let p = props(&t, e.id);
        assert_eq!(p.get("Namespace").and_then(Value::as_str), Some(emf::NAMESPACE), "{}", e.id);
        assert_eq!(p.get("MetricName").and_then(Value::as_str), Some(e.metric), "{}", e.id);
        assert!(emf::spec_of(e.metric).is_some(), "{} watches a metric the code emits", e.id);
        let dims: Vec<(String, String)> = p
            .get("Dimensions")
            .and_then(Value::as_sequence)
            .map(|d| d.iter().map(|x| (text(x.get("Name").unwrap()), text(x.get("Value").unwrap()))).collect())
            .unwrap_or_default();
        let want: Vec<(String, String)> = e.dims.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(dims, want, "{}", e.id);
        assert_eq!(p.get("Statistic").and_then(Value::as_str), Some(e.stat), "{}", e.id);
        assert_eq!(p.get("ComparisonOperator").and_then(Value::as_str), Some(e.op), "{}", e.id);
        assert_eq!(num(p.get("Threshold").unwrap()), e.threshold, "{}", e.id);
        assert_eq!(p.get("Period").and_then(Value::as_u64), Some(e.period), "{}", e.id);
        assert_reaches_topic(p, e.id);
        assert_says_what_to_do(p, e.id, e.anchor);
    }
    // A schedule that stops running stops emitting: missing data must alarm.
    for id in ["TpslScheduleMissedAlarm", "IndexerScheduleMissedAlarm"] {
        assert_eq!(props(&t, id).get("TreatMissingData").and_then(Value::as_str), Some("breaching"), "{id}");
    }
}

#[test]
fn the_emitted_dimensions_match_what_the_alarms_read() {
    // Each alarm's metric is written to CloudWatch with exactly the dimensions the alarm names:
    // none (the stale-price alarm reads the one all-pairs series), or the spec's one key with a
    // value the code can write (the schedule alarms' job).
    for e in EXPECTED {
        let spec = emf::spec_of(e.metric).unwrap();
        assert!(spec.cloudwatch, "{}: {} is written to CloudWatch", e.id, e.metric);
        match (spec.dimension, e.dims) {
            (None, []) => {}
            (Some(d), [(key, value)]) => {
                assert_eq!(d.key, *key, "{}", e.id);
                assert!(d.values.contains(value), "{}: {value} is a value the code writes", e.id);
            }
            (d, dims) => panic!("{}: the metric is written with {d:?}, the alarm reads {dims:?}", e.id),
        }
    }
    assert!(emf::spec_of(names::PRICE_STALENESS).unwrap().dimension.is_none(), "no series per pair");
}

/// An alarm's id, a `Vanta` metric it reads and the dimensions (name, value) it names.
type AlarmMetric = (String, String, Vec<(String, String)>);

/// Every `Vanta` metric an alarm reads (plain or in metric math), with the dimensions it names.
fn vanta_metrics_of_alarms(t: &Value) -> Vec<AlarmMetric> {
    let dims_of = |m: &Value| -> Vec<(String, String)> {
        m.get("Dimensions")
            .and_then(Value::as_sequence)
            .map(|d| d.iter().map(|x| (text(x.get("Name").unwrap()), text(x.get("Value").unwrap()))).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for (id, r) in resources(t) {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let p = r.get("Properties").unwrap();
        let id = id.as_str().unwrap().to_owned();
        if p.get("Namespace").and_then(Value::as_str) == Some(emf::NAMESPACE) {
            out.push((id.clone(), text(p.get("MetricName").unwrap()), dims_of(p)));
        }
        for m in p.get("Metrics").and_then(Value::as_sequence).into_iter().flatten() {
            if let Some(metric) = m.get("MetricStat").and_then(|s| s.get("Metric"))
                && metric.get("Namespace").map(text).as_deref() == Some(emf::NAMESPACE)
            {
                out.push((id.clone(), text(metric.get("MetricName").unwrap()), dims_of(metric)));
            }
        }
    }
    out
}

#[test]
fn every_alarm_on_an_application_metric_reads_a_series_the_code_writes() {
    let t = template();
    let watched = vanta_metrics_of_alarms(&t);
    assert!(watched.len() >= 8, "{watched:?}");
    for (id, metric, dims) in watched {
        let spec = emf::spec_of(&metric).unwrap_or_else(|| panic!("{id}: {metric} is not a metric the code emits"));
        assert!(spec.cloudwatch, "{id}: {metric} is /metrics-only, CloudWatch never receives it");
        match (spec.dimension, dims.as_slice()) {
            (None, []) => {}
            (Some(d), [(key, value)]) => assert!(d.key == key && d.values.contains(&value.as_str()), "{id}: {key}={value} for {metric}"),
            (d, dims) => panic!("{id}: {metric} is written with {d:?}, the alarm reads {dims:?}"),
        }
    }
}

fn metric_math(p: &Value) -> (Vec<(String, String, String)>, String) {
    let mut stats = Vec::new();
    let mut expr = String::new();
    for m in p.get("Metrics").and_then(Value::as_sequence).unwrap() {
        if let Some(s) = m.get("MetricStat") {
            let metric = s.get("Metric").unwrap();
            stats.push((text(metric.get("Namespace").unwrap()), text(metric.get("MetricName").unwrap()), text(s.get("Stat").unwrap())));
            assert_eq!(m.get("ReturnData").and_then(Value::as_bool), Some(false));
        } else {
            expr = text(m.get("Expression").unwrap());
            assert_eq!(m.get("ReturnData").and_then(Value::as_bool), Some(true));
        }
    }
    (stats, expr)
}

#[test]
fn ambiguous_intents_older_than_ten_minutes_alarm() {
    let t = template();
    let p = props(&t, "AmbiguousIntentsAlarm");
    let (stats, expr) = metric_math(p);
    assert_eq!(
        stats,
        vec![
            ("Vanta".into(), names::AMBIGUOUS_INTENT_AGE.into(), "Maximum".into()),
            ("Vanta".into(), names::INTENTS_LEFT_FOR_OPERATOR.into(), "Sum".into())
        ]
    );
    assert!(expr.contains("FILL(age, 0) > 600") && expr.contains("FILL(left, 0) > 0"), "{expr}");
    assert_eq!(p.get("ComparisonOperator").and_then(Value::as_str), Some("GreaterThanOrEqualToThreshold"));
    assert_eq!(num(p.get("Threshold").unwrap()), 1.0);
    assert_reaches_topic(p, "AmbiguousIntentsAlarm");
    assert_says_what_to_do(p, "AmbiguousIntentsAlarm", "ambiguous-intents");
}

fn functions(t: &Value) -> Vec<String> {
    resources(t)
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_function_has_an_errors_alarm_and_throttles_of_all_alarm() {
    let t = template();
    let fns = functions(&t);
    assert_eq!(fns.len(), 6);
    for f in &fns {
        let errors = resources(&t).iter().find(|(_, r)| {
            let p = r.get("Properties");
            p.and_then(|p| p.get("MetricName")).and_then(Value::as_str) == Some("Errors")
                && p.and_then(|p| p.get("Dimensions"))
                    .and_then(Value::as_sequence)
                    .is_some_and(|d| target(d[0].get("Value").unwrap()) == *f)
        });
        let (id, alarm) = errors.unwrap_or_else(|| panic!("no Errors alarm for {f}"));
        let id = id.as_str().unwrap();
        let p = alarm.get("Properties").unwrap();
        assert_eq!(num(p.get("Threshold").unwrap()), 0.0);
        assert_eq!(p.get("ComparisonOperator").and_then(Value::as_str), Some("GreaterThanThreshold"));
        assert_reaches_topic(p, id);
        assert_says_what_to_do(p, id, "function-errors");
    }
    let p = props(&t, "FunctionThrottlesAlarm");
    let (stats, expr) = metric_math(p);
    assert_eq!(stats.len(), fns.len());
    assert!(stats.iter().all(|(ns, m, s)| ns == "AWS/Lambda" && m == "Throttles" && s == "Sum"));
    let watched: Vec<String> = p
        .get("Metrics")
        .and_then(Value::as_sequence)
        .unwrap()
        .iter()
        .filter_map(|m| m.get("MetricStat"))
        .map(|s| target(s.get("Metric").unwrap().get("Dimensions").unwrap()[0].get("Value").unwrap()))
        .collect();
    let mut sorted = fns.clone();
    sorted.sort();
    let mut w = watched.clone();
    w.sort();
    assert_eq!(w, sorted, "every function's throttles");
    assert_eq!(expr.matches("FILL(").count(), fns.len(), "{expr}");
    assert_reaches_topic(p, "FunctionThrottlesAlarm");
    assert_says_what_to_do(p, "FunctionThrottlesAlarm", "function-errors");
}

#[test]
fn dlq_alarms_link_their_section() {
    let t = template();
    for id in ["SignalsDlqAlarm", "NotificationsDlqAlarm"] {
        let p = props(&t, id);
        assert_eq!(p.get("MetricName").and_then(Value::as_str), Some("ApproximateNumberOfMessagesVisible"));
        assert_eq!(num(p.get("Threshold").unwrap()), 0.0);
        assert_reaches_topic(p, id);
        assert_says_what_to_do(p, id, "dlq-not-empty");
    }
}

#[test]
fn every_alarm_says_what_to_do_with_an_agreed_anchor() {
    let t = template();
    let agreed: Vec<&str> = vanta_app::alarms::RUNBOOK_ANCHORS.iter().map(|(_, a)| *a).collect();
    let alarms: Vec<_> =
        resources(&t).iter().filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::CloudWatch::Alarm")).collect();
    assert!(alarms.len() >= 19);
    for (id, r) in alarms {
        let id = id.as_str().unwrap();
        let p = r.get("Properties").unwrap();
        let d = text(p.get("AlarmDescription").unwrap());
        let anchor = d.rsplit('#').next().unwrap();
        assert!(agreed.contains(&anchor), "{id}: #{anchor} is not one of {agreed:?}");
        assert_says_what_to_do(p, id, anchor);
        assert_reaches_topic(p, id);
        // The notifier finds the same section from the name alone.
        let name = text(p.get("AlarmName").unwrap());
        assert_eq!(vanta_app::alarms::anchor_for(&name), anchor, "{id}: {name}");
    }
}

#[test]
fn alarms_reach_the_notifier_and_email() {
    let t = template();
    let notifier = resources(&t).get("NotifierFunction").unwrap().get("Properties").unwrap();
    let events = notifier.get("Events").and_then(Value::as_mapping).unwrap();
    let sns: Vec<_> = events.values().filter(|e| e.get("Type").and_then(Value::as_str) == Some("SNS")).collect();
    assert_eq!(sns.len(), 1, "one SNS subscription of the notifier");
    assert_eq!(target(sns[0].get("Properties").unwrap().get("Topic").unwrap()), "AlarmTopic");
    // The notifier knows who the admins are (the global environment).
    let globals = t.get("Globals").unwrap().get("Function").unwrap().get("Environment").unwrap().get("Variables").unwrap();
    assert_eq!(target(globals.get("ADMIN_USER_IDS").unwrap()), "AdminUserIds");
    let email = props(&t, "AlarmEmailSubscription");
    assert_eq!(email.get("Protocol").and_then(Value::as_str), Some("email"));
    assert_eq!(target(email.get("TopicArn").unwrap()), "AlarmTopic");
    let runbook = t.get("Parameters").unwrap().get("RunbookUrl").unwrap();
    assert_eq!(runbook.get("Default").and_then(Value::as_str), Some("RUNBOOK.md"));
}

#[test]
fn the_dashboard_shows_every_application_metric_and_alarm() {
    let t = template();
    let body = text(props(&t, "Dashboard").get("DashboardBody").unwrap());
    // As CloudFormation substitutes it: every ${...} becomes a plain value.
    let mut json = String::new();
    let mut rest = body.as_str();
    while let Some(at) = rest.find("${") {
        json.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap();
        json.push('x');
        rest = &rest[at + end + 1..];
    }
    json.push_str(rest);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("dashboard JSON: {e}\n{json}"));
    let widgets = parsed["widgets"].as_array().unwrap();
    let shown = serde_json::to_string(widgets).unwrap();
    let on_dashboard = |name: &str| shown.contains(&format!("\\\"{name}\\\"")) || shown.contains(&format!("\"{name}\""));
    for spec in emf::SPECS {
        // What CloudWatch receives is shown; a /metrics-only figure would be an empty graph.
        assert_eq!(on_dashboard(spec.name), spec.cloudwatch, "{} on the dashboard", spec.name);
    }
    let alarms: Vec<String> = resources(&t)
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::CloudWatch::Alarm"))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    for a in alarms {
        assert!(body.contains(&format!("${{{a}.Arn}}")), "{a} on the dashboard's alarm widget");
    }
}

#[test]
fn the_functions_that_report_queue_depths_may_read_them() {
    let t = template();
    // The TP/SL tick records the depths as metrics; the bot's /health and /status show them.
    for f in ["TpslFunction", "TelegramFunction"] {
        let policies = serde_yaml::to_string(props(&t, f).get("Policies").unwrap()).unwrap();
        assert!(policies.contains("sqs:GetQueueAttributes"), "{f}");
        assert!(policies.contains("SignalsDeadLetterQueue.Arn") || policies.contains("SignalsDeadLetterQueue"), "{f}");
    }
    // The signal API serves no /health: it only sends to the queues.
    let webhook = serde_yaml::to_string(props(&t, "WebhookFunction").get("Policies").unwrap()).unwrap();
    assert!(!webhook.contains("sqs:GetQueueAttributes"), "the webhook reads no queue depth");
}
