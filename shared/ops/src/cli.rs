//! Command-line parsing (hand-written: a dozen commands do not need a parser crate). Every command
//! answers `--help`; anything unknown is a usage error (exit 2) that says what was expected.

use vanta_domain::exec::{ExecMode, StopLevel};

/// One command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Preflight,
    ExecMode { mode: ExecMode, yes: bool },
    Stop { level: StopLevel },
    Resume,
    ResolveIntent { id: String, not_executed: Option<String>, yes: bool },
    Backup,
    Restore { to_time: Option<String>, target: Option<String>, settings_only: bool, wait: bool },
    SetWebhook { drop_pending: bool },
}

/// What the arguments ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Help(String),
    Run { stack: Option<String>, command: Command },
}

pub const USAGE: &str = "\
vanta-ops: operate a Vanta stack with your AWS credentials

usage: vanta-ops [--stack NAME] <command> [options]

  status                          exec mode, stop, live positions, scheduled runs, DLQs
  preflight                       the go/no-go table; exits 1 on any NO-GO
  exec-mode DRY|LIVE [--yes]      store the exec mode (LIVE needs --yes and a clean preflight)
  stop [pause|flatten]            pull the emergency stop (default pause)
  resume                          release the stored emergency stop
  resolve-intent ID [--not-executed REASON --yes]
                                  show an intent and its audit trail; record that it never executed
  backup                          on-demand DynamoDB backup of the table
  restore --to-time T [--target NAME] [--no-wait]
  restore --target NAME --settings-only
                                  point-in-time restore into a new table (T: 2026-12-01T21:30:00Z)
  set-webhook [--drop-pending]    register the Telegram webhook with its secret

--stack NAME (or VANTA_STACK) reads the table, queues, alarm topic, webhook URL and parameters
from the CloudFormation stack; without it they come from the environment (TABLE_NAME, ...).
";

fn help(command: &str) -> Option<&'static str> {
    Some(match command {
        "status" => {
            "usage: vanta-ops status\n  the stored and effective exec mode and stop, live positions, the FLATTEN sweep, scheduled runs, DLQ depths"
        }
        "preflight" => {
            "usage: vanta-ops preflight\n  checks contracts, delegations, price feeds, admin ids, operator limits, alarms, the alarm topic,\n  the Telegram webhook, the DLQs and the exec mode; prints GO/WARN/NO-GO per check; exit 1 on any NO-GO"
        }
        "exec-mode" => {
            "usage: vanta-ops exec-mode DRY|LIVE [--yes]\n  DRY: at once. LIVE: needs --yes and refuses while preflight has a NO-GO"
        }
        "stop" => {
            "usage: vanta-ops stop [pause|flatten]\n  pause: no new exposure, exits keep running. flatten: close every position (the tpsl tick starts within a minute)"
        }
        "resume" => "usage: vanta-ops resume\n  releases the stored stop (a deployment EmergencyStop=true stays in force)",
        "resolve-intent" => {
            "usage: vanta-ops resolve-intent ID [--not-executed REASON --yes]\n  shows the intent and its audit trail; --not-executed ends an AMBIGUOUS/SUBMITTED intent FAILED"
        }
        "backup" => "usage: vanta-ops backup\n  an on-demand backup of the table, named after the time",
        "restore" => {
            "usage: vanta-ops restore --to-time T [--target NAME] [--no-wait]\n       vanta-ops restore --target NAME --settings-only\n  restores the table as of T into a new table, then turns on its PITR, ttl and deletion protection"
        }
        "set-webhook" => {
            "usage: vanta-ops set-webhook [--drop-pending]\n  registers TELEGRAM_WEBHOOK_URL with the secret token from SSM and the update types the bot handles"
        }
        _ => return None,
    })
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut stack = None;
    let mut rest: Vec<&str> = Vec::new();
    let mut it = args.iter().map(String::as_str);
    while let Some(a) = it.next() {
        match a {
            "--stack" => stack = Some(it.next().ok_or("--stack needs a stack name")?.to_owned()),
            _ if a.starts_with("--stack=") => stack = a.strip_prefix("--stack=").map(str::to_owned),
            _ => rest.push(a),
        }
    }
    let Some((&name, opts)) = rest.split_first() else { return Ok(Parsed::Help(USAGE.to_owned())) };
    if matches!(name, "help" | "--help" | "-h") {
        return Ok(Parsed::Help(match opts.first().and_then(|c| help(c)) {
            Some(h) => h.to_owned(),
            None => USAGE.to_owned(),
        }));
    }
    let text = help(name).ok_or_else(|| format!("unknown command '{name}'\n\n{USAGE}"))?;
    if opts.iter().any(|o| matches!(*o, "--help" | "-h")) {
        return Ok(Parsed::Help(text.to_owned()));
    }
    let usage = |why: String| format!("{why}\n{text}");
    let mut flags: Vec<&str> = Vec::new();
    let mut values: Vec<(&str, &str)> = Vec::new();
    let mut positional: Vec<&str> = Vec::new();
    let mut o = opts.iter().copied();
    while let Some(a) = o.next() {
        match a {
            "--to-time" | "--target" | "--not-executed" => values.push((a, o.next().ok_or_else(|| usage(format!("{a} needs a value")))?)),
            _ if a.starts_with("--") => flags.push(a),
            _ => positional.push(a),
        }
    }
    let allowed_flags: &[&str] = match name {
        "exec-mode" | "resolve-intent" => &["--yes"],
        "restore" => &["--settings-only", "--no-wait"],
        "set-webhook" => &["--drop-pending"],
        _ => &[],
    };
    let allowed_values: &[&str] = match name {
        "restore" => &["--to-time", "--target"],
        "resolve-intent" => &["--not-executed"],
        _ => &[],
    };
    if let Some(f) = flags.iter().find(|f| !allowed_flags.contains(f)) {
        return Err(usage(format!("unknown option {f}")));
    }
    if let Some((v, _)) = values.iter().find(|(v, _)| !allowed_values.contains(v)) {
        return Err(usage(format!("unknown option {v}")));
    }
    let flag = |f: &str| flags.contains(&f);
    let value = |v: &str| values.iter().find(|(k, _)| *k == v).map(|(_, x)| (*x).to_owned());
    let max_positional = match name {
        "exec-mode" | "resolve-intent" | "stop" => 1,
        _ => 0,
    };
    if positional.len() > max_positional {
        return Err(usage(format!("unexpected argument '{}'", positional.get(max_positional).copied().unwrap_or_default())));
    }
    let command = match name {
        "status" => Command::Status,
        "preflight" => Command::Preflight,
        "exec-mode" => {
            let mode = positional.first().ok_or_else(|| usage("which mode? DRY or LIVE".into()))?;
            Command::ExecMode { mode: mode.parse().map_err(|e: vanta_domain::DomainError| usage(e.to_string()))?, yes: flag("--yes") }
        }
        "stop" => Command::Stop {
            level: match positional.first().map(|p| p.to_ascii_lowercase()).as_deref() {
                None | Some("pause") => StopLevel::PauseEntries,
                Some("flatten") => StopLevel::Flatten,
                Some(other) => return Err(usage(format!("stop level must be pause or flatten, not '{other}'"))),
            },
        },
        "resume" => Command::Resume,
        "resolve-intent" => Command::ResolveIntent {
            id: positional.first().ok_or_else(|| usage("which intent? give its id".into()))?.to_string(),
            not_executed: value("--not-executed"),
            yes: flag("--yes"),
        },
        "backup" => Command::Backup,
        "restore" => {
            let (to_time, target, settings_only) = (value("--to-time"), value("--target"), flag("--settings-only"));
            if settings_only && target.is_none() {
                return Err(usage("--settings-only needs --target NAME".into()));
            }
            if !settings_only && to_time.is_none() {
                return Err(usage("--to-time T is required".into()));
            }
            Command::Restore { to_time, target, settings_only, wait: !flag("--no-wait") }
        }
        "set-webhook" => Command::SetWebhook { drop_pending: flag("--drop-pending") },
        _ => return Err(usage(format!("unknown command '{name}'"))),
    };
    Ok(Parsed::Run { stack, command })
}

/// The command names, as `vanta-ops help` lists them.
pub const COMMANDS: &[&str] = &["status", "preflight", "exec-mode", "stop", "resume", "resolve-intent", "backup", "restore", "set-webhook"];
