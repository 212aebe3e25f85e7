//! The cost model's arithmetic on fixed inputs (nothing is timed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, clippy::float_cmp)]

use super::*;

const TEMPLATE: &str = r#"
Parameters:
  Architecture:
    Type: String
    Default: arm64
  Retention:
    Type: Number
    Default: 30
  Tracing:
    Type: String
    Default: Active
  SecondBoard:
    Type: String
    Default: "false"
Conditions:
  HasSecondBoard: !Equals [!Ref SecondBoard, "true"]
  NoSecondBoard: !Not [!Equals [!Ref SecondBoard, "true"]]
Globals:
  Function:
    Architectures: [!Ref Architecture]
    MemorySize: 256
    Tracing: !Ref Tracing
Resources:
  WebhookFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: webhook
    Properties:
      MemorySize: 1024
      Events:
        Signals:
          Type: HttpApi
  TickFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: tpsl
    Properties:
      Architectures: [x86_64]
      Events:
        EveryMinute:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
  Worker:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: signal-worker
    Properties:
      Events:
        Queue:
          Type: SQS
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: !Ref Retention
  Key:
    Type: AWS::KMS::Key
  A1:
    Type: AWS::CloudWatch::Alarm
  A2:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Metrics:
        - Id: a
          MetricStat: { Metric: { Namespace: Vanta, MetricName: x }, Period: 60, Stat: Sum }
        - Id: b
          MetricStat: { Metric: { Namespace: Vanta, MetricName: y }, Period: 60, Stat: Sum }
        - Id: both
          Expression: "a + b"
  Board:
    Type: AWS::CloudWatch::Dashboard
    Condition: NoSecondBoard
  Board2:
    Type: AWS::CloudWatch::Dashboard
    Condition: HasSecondBoard
"#;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn the_template_gives_memory_architecture_schedules_and_fixed_resources() {
    let t = read_template(TEMPLATE).unwrap();
    let f = |b: &str| t.functions.iter().find(|f| f.binary == b).unwrap().clone();
    assert_eq!((f("webhook").memory_mb, f("webhook").arch.as_str(), f("webhook").scheduled_per_month), (1024.0, "arm64", 0.0));
    assert_eq!((f("tpsl").memory_mb, f("tpsl").arch.as_str()), (256.0, "x86_64"));
    assert_eq!(f("tpsl").scheduled_per_month, 730.0 * 60.0);
    assert_eq!(f("signal-worker").arch, "arm64");
    // Two alarms reading three metrics (the metric-math one two); the second board's condition is false.
    assert_eq!((t.alarms, t.alarm_metrics, t.dashboards, t.kms_keys, t.polled_queues), (2, 3, 1, 1, 1));
    assert_eq!((t.tracing, t.log_retention_days), (true, 30.0));
    let passthrough = read_template(&TEMPLATE.replace("Default: Active", "Default: PassThrough")).unwrap();
    assert!(!passthrough.tracing);
    let both = read_template(&TEMPLATE.replace("Default: \"false\"", "Default: \"true\"")).unwrap();
    assert_eq!(both.dashboards, 1, "the other board instead");
    assert_eq!(rate_per_month("rate(5 minutes)").unwrap(), 730.0 * 12.0);
    assert_eq!(rate_per_month("rate(1 hour)").unwrap(), 730.0);
    assert!(rate_per_month("cron(0 * * * ? *)").is_err());
    assert!(rate_per_month("rate(0 minutes)").is_err());
}

#[test]
fn the_repository_template_parses_with_every_function() {
    let text = std::fs::read_to_string(vanta_testkit::net::repo_root().join("template.yaml")).unwrap();
    let t = read_template(&text).unwrap();
    let mut bins: Vec<_> = t.functions.iter().map(|f| f.binary.as_str()).collect();
    bins.sort_unstable();
    assert_eq!(bins, ["indexer", "notifier", "signal-worker", "telegram", "tpsl", "webhook"]);
    assert!(t.functions.iter().all(|f| f.memory_mb >= 128.0 && (f.arch == "arm64" || f.arch == "x86_64")), "{t:?}");
    assert!(t.kms_keys >= 1 && t.alarms >= 1 && t.polled_queues >= 2, "{t:?}");
}

#[test]
fn every_series_the_code_can_write_to_cloudwatch_is_priced() {
    let series = metric_series(&ASSUMPTIONS);
    for spec in vanta_app::emf::SPECS {
        let priced = series.iter().find(|(n, _, _)| *n == spec.name);
        if spec.cloudwatch {
            let (_, n, billed) = priced.unwrap_or_else(|| panic!("{} is not in the cost model", spec.name));
            assert_eq!(*n, spec.series() as f64, "{}", spec.name);
            assert!(*billed > 0.0 && billed <= n, "{}", spec.name);
        } else {
            assert!(priced.is_none(), "{} is /metrics only", spec.name);
        }
    }
    assert_eq!(series.len(), vanta_app::emf::SPECS.iter().filter(|s| s.cloudwatch).count());
    // The repository's metrics: 26 series, 3 of them written only during incidents.
    assert_eq!(series.iter().map(|(_, n, _)| n).sum::<f64>(), 26.0);
    let incident = 3.0 * 24.0 / 730.0;
    assert!(close(series.iter().map(|(_, _, b)| b).sum::<f64>(), 23.0 + incident));
    // Lambda's CPU share: a full vCPU at 1 769 MB, 1/13.8 at 128 MB; never faster than one core.
    assert!(close(cpu_stretch(&ASSUMPTIONS, 128.0), 1769.0 / 128.0));
    assert_eq!(cpu_stretch(&ASSUMPTIONS, 3008.0), 1.0);
}

/// Fixed inputs with round numbers: one signal, one intent and one tick each cost a known
/// amount, so every line can be computed by hand.
#[test]
fn the_estimate_adds_up_on_fixed_inputs() {
    let t = read_template(TEMPLATE).unwrap();
    let unit = |cpu_ms, calls, read, written, sends, notices, signatures| PerUnit {
        cpu_ms,
        store_calls: calls,
        items_read: read,
        items_written: written,
        queue_sends: sends,
        notices,
        signatures,
        telegram_calls: 0.0,
    };
    let m = Measured {
        signal: unit(1.0, 2.0, 1.0, 2.0, 1.0, 0.0, 0.0),
        live_intent: unit(2.0, 4.0, 3.0, 5.0, 1.0, 1.0, 1.0),
        dry_intent: unit(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        tick: unit(0.5, 10.0, 20.0, 3.0, 0.0, 0.0, 0.0),
        cold_start_ms: BTreeMap::from([("webhook".to_owned(), 20.0)]),
    };
    let a = Assumptions {
        live_share: 1.0,
        venue_wait_ms: 1_000.0,
        dynamo_call_ms: 5.0,
        sqs_call_ms: 10.0,
        kms_sign_ms: 20.0,
        telegram_call_ms: 100.0,
        price_fetch_ms: 50.0,
        telegram_updates_per_user_day: 0.0,
        telegram_update: PerUnit::default(),
        notifier_cpu_ms: 0.0,
        indexer_tick_ms: 0.0,
        open_positions_per_user: 0.0,
        position_item_bytes: 1_000.0,
        items_per_page: 1_000.0,
        wru_per_item_written: 2.0,
        rru_per_item_read: 1.0,
        log_bytes_per_invocation: 1_000.0,
        access_log_bytes_per_request: 0.0,
        cold_start_share: 0.5,
        cold_start_ms: 0.0,
        sqs_idle_polls_per_min: 0.0,
        sqs_requests_per_delivery: 2.0,
        queue_stats_per_tick: 0.0,
        storage_bytes_per_user: 0.0,
        pairs_traded: 1.0,
        price_sources: 1.0,
        xray_extra_share: 0.0,
        // A tenth of the month's hours; one vCPU at 512 MB (the 256 MB functions run at half speed).
        incident_hours_per_month: 73.0,
        vcpu_mb: 512.0,
    };
    // 730 signals a day: 730 × 730/24 = 22 204.1666… a month.
    let scale = Scale { users: 10.0, signals_per_day: 730.0 };
    let e = estimate(&t, &m, &a, &US_EAST_1, scale);
    let line = |service: &str, starts: &str| e.lines.iter().find(|l| l.service == service && l.item.starts_with(starts)).unwrap().clone();
    let signals = 730.0 * 730.0 / 24.0;

    // Webhook (1 GB: a full vCPU): 1 + 2 × 5 + 1 × 10 = 21 ms, plus half the invocations' 20 ms init: 31 ms each at 1 GB arm64.
    let w = line("Lambda", "webhook");
    assert!(close(w.quantity, signals * 31.0 / 1000.0), "{w:?}");
    assert!(close(w.usd, signals * 0.031 * 0.000_013_333_4 + signals * 0.2e-6), "{w:?}");
    // Worker (256 MB: half a vCPU, its 2 ms of CPU take 4): 4 + 4 × 5 + 10 + 20 + 1 000 venue wait = 1 054 ms, init 0: 1.054 s at 0.25 GB arm64.
    let k = line("Lambda", "signal-worker");
    assert!(close(k.quantity, signals * 1.054 * 0.25), "{k:?}");
    // Notifier absent from this template: no line. Tick: 0.5 × 2 + 50 + 10 × 5 = 101 ms billed, x86, 43 800 a month.
    let ticks = 43_800.0;
    let p = line("Lambda", "tpsl");
    assert!(close(p.quantity, ticks * 0.101 * 0.25), "{p:?}");
    assert!(close(p.usd, ticks * 0.101 * 0.25 * 0.000_016_666_7 + ticks * 0.2e-6), "{p:?}");
    assert!(close(line("EventBridge", "scheduled").usd, ticks * 1e-6));

    // DynamoDB: signals write 2 items (4 WRU), intents read 3 and write 5 (10 WRU), ticks read 20.
    assert!(close(line("DynamoDB", "signals: writes").quantity, signals * 4.0));
    assert!(close(line("DynamoDB", "intents: writes").usd, signals * 10.0 * 0.625e-6));
    assert!(close(line("DynamoDB", "intents: reads").usd, signals * 3.0 * 0.125e-6));
    assert!(close(line("DynamoDB", "TP/SL ticks: reads").quantity, ticks * 20.0));
    // The indexer is not in this template: its book read is zero.
    assert_eq!(line("DynamoDB", "indexer").quantity, 0.0);

    // SQS: a send per signal, the one each intent makes and one per notice (one per intent);
    // each delivery (intent, notice) received and deleted: 3 + 2 × 2 = 7 requests per signal.
    assert!(close(line("SQS", "FIFO").quantity, signals * 7.0), "{:?}", line("SQS", "FIFO"));
    // KMS: one key, one Sign per intent, and half the intents start cold (one GetPublicKey).
    assert_eq!(line("KMS", "keys").usd, 1.0);
    assert!(close(line("KMS", "secp256k1").quantity, signals * 1.5));
    assert!(close(line("KMS", "secp256k1").usd, signals * 1.5 * 0.15 / 1e4));
    assert!(close(line("API Gateway", "HTTP").usd, signals * 1e-6));

    // CloudWatch: 1 000 log bytes per invocation, 30 days kept; 2 alarms reading 3 metrics, 1
    // dashboard; the metric series of emf.rs, the incident-only ones a tenth of the month.
    let invocations = signals * 2.0 + ticks; // webhook + worker + tick
    assert!(close(line("CloudWatch", "logs ingested").usd, invocations * 1_000.0 / 1e9 * 0.5));
    assert!(close(line("CloudWatch", "logs stored").quantity, invocations * 1_000.0 / 1e9 * 30.0 / (730.0 / 24.0)));
    let billed = 23.0 + 3.0 * 0.1;
    assert!(close(line("CloudWatch", "custom metrics").quantity, billed));
    assert!(close(line("CloudWatch", "custom metrics").usd, billed * 0.30));
    assert!(close(line("CloudWatch", "alarms").usd, 0.3));
    assert!(close(line("CloudWatch", "dashboards").usd, 3.0));
    assert!(close(e.without_dashboard(), e.total_usd - 3.0));
    let physical: f64 = e.lines.iter().filter(|l| ["KMS", "DynamoDB", "SQS", "API Gateway"].contains(&l.service)).map(|l| l.usd).sum();
    assert!(close(e.physical(), physical) && physical > 1.0);
    // X-Ray: each function's invocations are under one a second, so all are traced.
    assert!(close(line("X-Ray", "traces").quantity, invocations));

    // The total is the sum of the lines, and the services add up to it.
    let sum: f64 = e.lines.iter().map(|l| l.usd).sum();
    assert!(close(e.total_usd, sum));
    assert!(close(e.by_service().iter().map(|(_, u)| u).sum::<f64>(), sum));
    // 100 × the signals: the webhook's line grows 100 ×, the tick's (a schedule) not at all.
    let big = estimate(&t, &m, &a, &US_EAST_1, Scale { users: 1_000.0, signals_per_day: 73_000.0 });
    let big_line =
        |service: &str, starts: &str| big.lines.iter().find(|l| l.service == service && l.item.starts_with(starts)).unwrap().clone();
    assert!(close(big_line("Lambda", "webhook").usd, w.usd * 100.0));
    assert!(close(big_line("Lambda", "tpsl").usd, p.usd));
    assert!(close(big_line("CloudWatch", "alarms").usd, 0.3));
}
