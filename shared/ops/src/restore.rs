//! `backup` (an on-demand DynamoDB backup) and `restore --to-time T` (point-in-time recovery into
//! a NEW table named after the time; the live table is never touched). Switching the stack to the
//! restored table is a redeploy with the table-name parameter, which the command prints.
//!
//! A restored table carries the data, keys and indexes but not the table's settings, so the
//! restore turns on point-in-time recovery, the `ttl` expiry and deletion protection on it before
//! it is handed over.

use std::fmt::Write as _;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::primitives::DateTime;
use aws_sdk_dynamodb::types::{PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, TableStatus, TimeToLiveSpecification};
use vanta_domain::time::Timestamp;

use crate::control::iso;

/// The template parameter that names the table the functions use.
pub const TABLE_PARAMETER: &str = "TableName";

/// Days since 1970-01-01 of a proleptic Gregorian date (integers only).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (UTC) or unix seconds.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map(Timestamp::from_secs).map_err(|_| format!("'{s}' is not a time"));
    }
    let bad = || format!("'{s}' is not a UTC time like 2026-12-01T21:30:00Z (or unix seconds)");
    let b = s.as_bytes();
    if b.len() != 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.get(19) != Some(&b'Z')
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return Err(bad());
    }
    let t = Timestamp::from_secs(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec);
    // 2026-02-31 and the like do not round-trip.
    if iso(t) != s {
        return Err(bad());
    }
    Ok(t)
}

/// `20261201T213000Z`: a time as it appears in table and backup names.
pub fn compact(t: Timestamp) -> String {
    iso(t).replace(['-', ':'], "")
}

fn sdk_err<E: std::error::Error + 'static>(what: &str, e: aws_sdk_dynamodb::error::SdkError<E>) -> String {
    format!("{what}: {}", DisplayErrorContext(&e))
}

/// An on-demand backup of `table`, named `<table>-<time>`.
pub async fn backup(dynamo: &Client, table: &str, now: Timestamp, out: &mut String) -> Result<String, String> {
    let name = format!("{table}-{}", compact(now));
    let b = dynamo.create_backup().table_name(table).backup_name(&name).send().await.map_err(|e| sdk_err("CreateBackup", e))?;
    let d = b.backup_details().ok_or("CreateBackup returned no backup")?;
    let arn = d.backup_arn().to_owned();
    let _ = writeln!(out, "backup {} of {table}: {} ({})", d.backup_name(), arn, d.backup_status().as_str());
    let _ = writeln!(
        out,
        "restore it into a new table with: aws dynamodb restore-table-from-backup --target-table-name <new name> --backup-arn {arn}"
    );
    Ok(arn)
}

/// The redeploy that switches `stack` (None: samconfig.toml's) to `table`: every function, policy
/// and output then uses it, and the stack no longer owns a table of its own. Parameters not given
/// keep their deployed values.
pub fn switch_commands(stack: Option<&str>, table: &str) -> String {
    let (sam_stack, make_stack) = match stack {
        Some(s) => (format!(" --stack-name {s}"), format!(" STACK={s}")),
        None => (String::new(), String::new()),
    };
    format!(
        "switch the stack to it (a redeploy; the old table is kept, deletion-protected):\n  sam deploy --parameter-overrides {TABLE_PARAMETER}={table}{sam_stack}\n  or: make deploy{make_stack} PARAMS=\"{TABLE_PARAMETER}={table}\"\n"
    )
}

/// The point-in-time restore of `table` at `at` into a new table (default name
/// `<table>-pitr-<time>`); returns the new table's name. `stack` names the stack in the switch
/// command printed at the end.
#[allow(clippy::too_many_arguments)]
pub async fn restore(
    dynamo: &Client,
    table: &str,
    at: Timestamp,
    target: Option<&str>,
    stack: Option<&str>,
    now: Timestamp,
    wait: Duration,
    out: &mut String,
) -> Result<String, String> {
    if at > now {
        return Err(format!("{} is in the future", iso(at)));
    }
    let pitr = dynamo.describe_continuous_backups().table_name(table).send().await.map_err(|e| sdk_err("DescribeContinuousBackups", e))?;
    let desc = pitr.continuous_backups_description().and_then(|c| c.point_in_time_recovery_description());
    if desc.and_then(|d| d.point_in_time_recovery_status()) != Some(&PointInTimeRecoveryStatus::Enabled) {
        return Err(format!(
            "point-in-time recovery is not enabled on {table}: restore from a backup instead (aws dynamodb list-backups --table-name {table})"
        ));
    }
    if let Some(earliest) = desc.and_then(|d| d.earliest_restorable_date_time())
        && at.secs() < earliest.secs()
    {
        return Err(format!("{} is before the earliest restorable time {}", iso(at), iso(Timestamp::from_secs(earliest.secs()))));
    }
    let name = target.map_or_else(|| format!("{table}-pitr-{}", compact(at)).to_ascii_lowercase(), str::to_owned);
    dynamo
        .restore_table_to_point_in_time()
        .source_table_name(table)
        .target_table_name(&name)
        .restore_date_time(DateTime::from_secs(at.secs()))
        .send()
        .await
        .map_err(|e| sdk_err("RestoreTableToPointInTime", e))?;
    let _ = writeln!(out, "restoring {table} as of {} into {name}", iso(at));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let d = dynamo.describe_table().table_name(&name).send().await.map_err(|e| sdk_err("DescribeTable", e))?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = writeln!(
                out,
                "{name} is still being restored (large tables take hours); run this again with --target {name} --settings-only when it is ACTIVE"
            );
            return Ok(name);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    settings(dynamo, &name, out).await?;
    out.push_str(&switch_commands(stack, &name));
    Ok(name)
}

/// The table settings a restore does not carry over: point-in-time recovery, the `ttl` expiry
/// and deletion protection.
pub async fn settings(dynamo: &Client, table: &str, out: &mut String) -> Result<(), String> {
    let spec = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().map_err(|e| e.to_string())?;
    dynamo
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
        .map_err(|e| sdk_err("UpdateContinuousBackups", e))?;
    let current = dynamo.describe_time_to_live().table_name(table).send().await.map_err(|e| sdk_err("DescribeTimeToLive", e))?;
    let on = current.time_to_live_description().and_then(|d| d.time_to_live_status()).is_some_and(|s| {
        matches!(s, aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled | aws_sdk_dynamodb::types::TimeToLiveStatus::Enabling)
    });
    if !on {
        let ttl = TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build().map_err(|e| e.to_string())?;
        dynamo
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| sdk_err("UpdateTimeToLive", e))?;
    }
    dynamo.update_table().table_name(table).deletion_protection_enabled(true).send().await.map_err(|e| sdk_err("UpdateTable", e))?;
    let _ = writeln!(out, "{table}: point-in-time recovery on, ttl expiry on, deletion protection on");
    Ok(())
}
