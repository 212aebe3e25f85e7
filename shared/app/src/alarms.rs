//! CloudWatch alarms to the admins on Telegram: the alarm topic (SNS) invokes the notifier, which
//! sends each alarm record to every configured admin id, with the alarm's "what to do" text and a
//! link to its runbook section (e-mail subscribers of the same topic get the raw record).
//!
//! Each alarm's `AlarmDescription` in `template.yaml` reads `<what happened>. What to do: <...>.
//! Runbook: <RunbookUrl>#<anchor>`; an alarm without a runbook link gets one from its name
//! ([`anchor_for`]). A send that fails makes the invocation fail, so Lambda's asynchronous retries
//! deliver it again (an admin may then see it twice; none misses it).

use serde::Deserialize;
use serde_json::Value;
use vanta_domain::ids::ChatId;
use vanta_domain::ports::OutgoingMessage;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;
use crate::outbox::html_escape;

/// The runbook sections alarms link to (`RUNBOOK.md#<anchor>`), with the alarm-name suffix that
/// selects each when a description carries no link.
pub const RUNBOOK_ANCHORS: [(&str, &str); 9] = [
    ("stale-prices", "stale-prices"),
    ("schedule-missed", "schedule-missed"),
    ("not-running", "schedule-missed"),
    ("ambiguous-intents", "ambiguous-intents"),
    ("dlq-not-empty", "dlq-not-empty"),
    ("emergency-stop", "emergency-stop"),
    ("delegation-expiry", "delegation-expiry"),
    ("low-success-rate", "low-success-rate"),
    ("errors", "function-errors"),
];

/// The runbook anchor for an alarm named `name` (`<stack>-<what>`): the first known suffix in
/// it; `function-errors` for anything else (throttles, backlog, a function's errors).
pub fn anchor_for(name: &str) -> &'static str {
    RUNBOOK_ANCHORS.iter().find(|(suffix, _)| name.contains(suffix)).map_or("function-errors", |(_, a)| a)
}

/// Whether a notifier invocation carries SNS records (the alarm topic) rather than SQS ones.
pub fn is_sns_event(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty() && r.iter().all(|rec| rec.get("EventSource").and_then(Value::as_str) == Some("aws:sns")))
}

#[derive(Debug, Deserialize)]
struct SnsRecord {
    #[serde(rename = "Sns")]
    sns: SnsMessage,
}

#[derive(Debug, Deserialize)]
struct SnsMessage {
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "Message", default)]
    message: String,
}

/// The fields of a CloudWatch alarm notification the message uses.
#[derive(Debug, Deserialize)]
struct AlarmRecord {
    #[serde(rename = "AlarmName")]
    name: String,
    #[serde(rename = "AlarmDescription", default)]
    description: Option<String>,
    #[serde(rename = "NewStateValue")]
    state: String,
    #[serde(rename = "NewStateReason", default)]
    reason: Option<String>,
    #[serde(rename = "StateChangeTime", default)]
    at: Option<String>,
}

/// Longest piece of alarm text quoted (CloudWatch reasons can be long).
const MAX_QUOTED: usize = 600;

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTED {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_QUOTED).collect();
    out.push('…');
    out
}

/// A description split at its runbook link: the text before `Runbook:` and the link, if any.
fn split_runbook(description: &str) -> (&str, Option<&str>) {
    match description.split_once("Runbook:") {
        Some((text, rest)) => (text.trim_end(), rest.split_whitespace().next().map(|l| l.trim_end_matches(['.', ',', ')']))),
        None => (description.trim_end(), None),
    }
}

/// The Telegram message (HTML) for one SNS message: an alarm's state, what happened, what to do
/// and its runbook section; anything that is not an alarm record is quoted as it came.
pub fn render(subject: Option<&str>, message: &str) -> String {
    let Ok(alarm) = serde_json::from_str::<AlarmRecord>(message) else {
        let subject = subject.map(|s| format!("<b>{}</b>\n", html_escape(&clip(s)))).unwrap_or_default();
        return format!("📣 {subject}{}", html_escape(&clip(message)));
    };
    let icon = match alarm.state.as_str() {
        "ALARM" => "🚨",
        "OK" => "✅",
        _ => "ℹ️",
    };
    let description = alarm.description.unwrap_or_default();
    // The description without its link: the link is shown on its own line.
    let (text, link) = split_runbook(&description);
    let link = link.map_or_else(|| format!("RUNBOOK.md#{}", anchor_for(&alarm.name)), str::to_owned);
    let link_html = if link.starts_with("https://") || link.starts_with("http://") {
        format!("<a href=\"{}\">{}</a>", html_escape(&link).replace('"', "&quot;"), html_escape(&link))
    } else {
        format!("<code>{}</code>", html_escape(&link))
    };
    let mut out = format!("{icon} <b>{}</b> · {}\n", html_escape(&alarm.state), html_escape(&alarm.name));
    if alarm.state == "OK" {
        out.push_str("Recovered.\n");
    }
    if !text.is_empty() {
        out.push_str(&html_escape(&clip(text)));
        out.push('\n');
    }
    out.push_str(&format!("Runbook: {link_html}"));
    if let Some(reason) = alarm.reason.filter(|r| !r.is_empty()) {
        out.push_str(&format!("\n<i>{}</i>", html_escape(&clip(&reason))));
    }
    if let Some(at) = alarm.at {
        out.push_str(&format!("\n{}", html_escape(&clip(&at))));
    }
    out
}

/// Sends every SNS record of `event` to every admin; the number of messages sent. Any failed
/// send (after trying every admin) is an error, so the invocation is retried.
pub async fn handle_sns_event(deps: &Deps, event: &Value) -> DomainResult<usize> {
    let records: Vec<SnsRecord> = event
        .get("Records")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| DomainError::Invalid(format!("unreadable SNS event: {e}")))?
        .unwrap_or_default();
    let admins = &deps.config.admin_ids;
    if admins.is_empty() {
        tracing::error!("an alarm arrived but ADMIN_USER_IDS is empty: nobody to tell on Telegram (e-mail still gets it)");
        return Ok(0);
    }
    let mut sent = 0;
    let mut failed: Option<DomainError> = None;
    for record in records {
        let html = render(record.sns.subject.as_deref(), &record.sns.message);
        for admin in admins {
            // An admin's private chat with the bot has their user id.
            let result = deps.chat.send(&OutgoingMessage::text(ChatId(admin.0), html.clone())).await;
            crate::emf::notice_delivery(deps, &result);
            match result {
                Ok(()) => sent += 1,
                Err(e) => {
                    tracing::warn!(admin = %admin, error = %e, "alarm not delivered to an admin");
                    if !matches!(e, DomainError::Forbidden(_)) {
                        failed = Some(e);
                    }
                }
            }
        }
    }
    match failed {
        Some(e) => Err(DomainError::Unavailable(format!("an alarm was not delivered to every admin: {e}"))),
        None => Ok(sent),
    }
}
