//! `vanta-ops`: the operator's CLI, run with the operator's AWS credentials against one stack.
//!
//! Every write to the exec-control item goes through the store code the bot uses
//! ([`control::write_control`] over `DynamoStore`), so the version and the time of every change
//! are kept as the bot keeps them. The commands are library functions over a settings lookup
//! and an output buffer, so tests run them in-process against moto and the fakes.

pub mod cli;
pub mod control;
pub mod intents;
pub mod limits;
pub mod preflight;
pub mod queues;
pub mod restore;
pub mod settings;
pub mod telegram;

use std::fmt::Write as _;
use std::time::Duration;

use vanta_aws::dynamo::DynamoStore;
use vanta_domain::exec::{ExecMode, StopLevel};
use vanta_domain::ids::IntentId;
use vanta_domain::time::{Clock, SystemClock};

use crate::cli::{Command, Parsed};
use crate::settings::Settings;

/// Exit codes: success, a failed check or command, a usage error.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// Runs the command `args` asks for (without the program name), reading settings through `env`
/// and writing what it has to say to `out`. Returns the exit code.
pub async fn run(args: &[String], env: &dyn Fn(&str) -> Option<String>, out: &mut String) -> i32 {
    run_with(args, env, None, out).await
}

/// [`run`], reading CloudWatch alarms from `alarms` instead of CloudWatch itself when given (tests:
/// moto does not speak the CBOR protocol the CloudWatch SDK uses).
pub async fn run_with(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    alarms: Option<&dyn preflight::AlarmSource>,
    out: &mut String,
) -> i32 {
    let (stack, command) = match cli::parse(args) {
        Ok(Parsed::Help(h)) => {
            out.push_str(&h);
            if !h.ends_with('\n') {
                out.push('\n');
            }
            return EXIT_OK;
        }
        Ok(Parsed::Run { stack, command }) => (stack, command),
        Err(e) => {
            let _ = writeln!(out, "{e}");
            return EXIT_USAGE;
        }
    };
    match execute(stack, command, env, alarms, out).await {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            EXIT_FAILED
        }
    }
}

async fn execute(
    stack: Option<String>,
    command: Command,
    env: &dyn Fn(&str) -> Option<String>,
    alarms: Option<&dyn preflight::AlarmSource>,
    out: &mut String,
) -> Result<i32, String> {
    let sdk = settings::sdk_config(env).await;
    let cloudwatch = preflight::CloudWatchAlarms::new(&sdk);
    let alarms = alarms.unwrap_or(&cloudwatch);
    let stack_name = stack.clone().or_else(|| env("VANTA_STACK")).filter(|s| !s.trim().is_empty());
    let from_stack = match &stack_name {
        Some(s) => settings::read_stack(&sdk, s).await?,
        None => Default::default(),
    };
    let s = Settings::resolve(stack_name, from_stack, env)?;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let store = || -> Result<DynamoStore, String> { Ok(DynamoStore::new(dynamo.clone(), s.require("TABLE_NAME")?)) };
    let now = SystemClock.now();
    let err = |e: vanta_domain::DomainError| e.to_string();
    match command {
        Command::Status => {
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let dlq = queues::depths(&sqs, s.get("SIGNALS_DLQ_URL"), s.get("NOTIFICATIONS_DLQ_URL")).await;
            let healthy = control::status(&s, &store()?, &dlq, now, out).await;
            Ok(if healthy { EXIT_OK } else { EXIT_FAILED })
        }
        Command::Preflight => {
            let store = store()?;
            let report = preflight::run(&preflight::Inputs {
                settings: &s,
                sdk: &sdk,
                store: &store,
                now,
                limits: limits::operator_limits(&s),
                alarms,
            })
            .await;
            out.push_str(&report.render());
            Ok(if report.go() { EXIT_OK } else { EXIT_FAILED })
        }
        Command::ExecMode { mode, yes } => {
            let store = store()?;
            if mode == ExecMode::Live {
                if !yes {
                    let _ =
                        writeln!(out, "LIVE signs real orders: run `vanta-ops exec-mode LIVE --yes` to confirm (preflight runs first).");
                    return Ok(EXIT_USAGE);
                }
                let report = preflight::run(&preflight::Inputs {
                    settings: &s,
                    sdk: &sdk,
                    store: &store,
                    now,
                    limits: limits::operator_limits(&s),
                    alarms,
                })
                .await;
                out.push_str(&report.render());
                if !report.go() {
                    let _ = writeln!(out, "refused: the exec mode stays as it is until every NO-GO is fixed");
                    return Ok(EXIT_FAILED);
                }
            }
            control::set_mode(&s, &store, now, mode, out).await.map_err(err)?;
            Ok(EXIT_OK)
        }
        Command::Stop { level } => {
            control::set_stop(&s, &store()?, now, level, out).await.map_err(err)?;
            Ok(EXIT_OK)
        }
        Command::Resume => {
            control::set_stop(&s, &store()?, now, StopLevel::None, out).await.map_err(err)?;
            Ok(EXIT_OK)
        }
        Command::ResolveIntent { id, not_executed, yes } => {
            let id = IntentId::parse(&id).map_err(err)?;
            let what = match not_executed {
                Some(_) if !yes => {
                    let _ = writeln!(out, "recording that an intent never executed needs --yes (check the venue first)");
                    return Ok(EXIT_USAGE);
                }
                Some(reason) => intents::Resolution::NotExecuted(reason),
                None => intents::Resolution::Show,
            };
            let ok = intents::resolve(&store()?, &id, &what, now, out).await.map_err(err)?;
            Ok(if ok { EXIT_OK } else { EXIT_FAILED })
        }
        Command::Backup => {
            restore::backup(&dynamo, s.require("TABLE_NAME")?, now, out).await?;
            Ok(EXIT_OK)
        }
        Command::Restore { to_time, target, settings_only, wait } => {
            if settings_only {
                let target = target.ok_or("--settings-only needs --target")?;
                restore::settings(&dynamo, &target, out).await?;
                out.push_str(&restore::switch_commands(s.stack.as_deref(), &target));
                return Ok(EXIT_OK);
            }
            let at = restore::parse_time(to_time.as_deref().unwrap_or_default())?;
            let wait = if wait { Duration::from_secs(3600) } else { Duration::ZERO };
            restore::restore(&dynamo, s.require("TABLE_NAME")?, at, target.as_deref(), s.stack.as_deref(), now, wait, out).await?;
            Ok(EXIT_OK)
        }
        Command::SetWebhook { drop_pending } => {
            telegram::set_webhook(&s, &sdk, drop_pending, out).await?;
            Ok(EXIT_OK)
        }
    }
}

#[cfg(test)]
mod tests;
