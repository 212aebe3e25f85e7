//! The indexer tick's periodic scans: what an operator must hear about without asking.
//!
//! - **Unresolved intents** (every tick): every intent SUBMITTED or AMBIGUOUS (its order may have
//!   reached the venue and the outcome is not known) is read from the sparse `OPEN_INTENT` list.
//!   The tick records how many there are (`ambiguous_intents`) and the age of the oldest
//!   (`ambiguous_intent_age_seconds`, 0 when there is none; the `AmbiguousIntentsAlarm` fires on
//!   its 5-minute maximum above 600 s). Each intent older than 10 minutes is told to the admins
//!   once (a marker per intent), with what to do.
//! - **Delegation expiry** (at most every 50 minutes, so each hourly alarm period has a sample):
//!   for every active user with a bound wallet and a delegate address, the venue's delegation is
//!   read and `delegation_expiry_seconds` recorded (the `DelegationExpiryAlarm` fires on its
//!   hourly minimum below 7 days). A user whose delegation ends within 7 days (or has ended) is
//!   told once per expiry date, with how to renew it.
//!
//! A scan never fails the tick: a read that fails is logged and the scan tries again next time.

use std::time::Duration;

use vanta_domain::DomainResult;
use vanta_domain::ids::{ChatId, IntentId, TelegramUserId};
use vanta_domain::intent::Intent;
use vanta_domain::ports::OutgoingMessage;
use vanta_domain::time::Timestamp;
use vanta_domain::user::User;

use crate::Deps;
use crate::emf::names;
use crate::outbox::html_escape;

/// An unresolved intent older than this is an operator's matter (the alarm's threshold).
pub const STUCK_AFTER_SECS: i64 = 600;
/// A delegation that ends sooner than this is worth a warning (the alarm's threshold).
pub const DELEGATION_WARN_SECS: i64 = 7 * 86_400;
/// The delegation scan runs at most this often: under the alarm's one-hour period, so every
/// period holds a sample while users have delegations.
pub const DELEGATION_SCAN_EVERY: Duration = Duration::from_secs(50 * 60);
/// How long "told once" lasts: for good, in practice.
const TOLD_FOR: Duration = Duration::from_secs(400 * 86_400);

/// What one run of the scans found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Unresolved intents seen (None: the list could not be read).
    pub open_intents: Option<usize>,
    /// The oldest one's age, in seconds.
    pub oldest_age_secs: Option<i64>,
    /// Intents told to the admins in this run (older than 10 minutes, first time).
    pub stuck_told: Vec<IntentId>,
    /// Delegations read in this run (None: not due, or the users could not be read).
    pub delegations_checked: Option<usize>,
    /// Users told in this run that their delegation ends within 7 days.
    pub expiring_told: Vec<TelegramUserId>,
}

/// Both scans (the indexer tick's call).
pub async fn run(deps: &Deps) -> ScanReport {
    let mut report = ScanReport::default();
    if let Err(e) = unresolved_intents(deps, &mut report).await {
        tracing::warn!(error = %e, "unresolved intents not scanned; next tick");
    }
    if let Err(e) = delegations(deps, &mut report).await {
        tracing::warn!(error = %e, "delegations not scanned; next run");
    }
    report
}

fn secs_between(from: Timestamp, to: Timestamp) -> i64 {
    to.since(from).div_euclid(1000)
}

/// The unresolved intents: the gauges each tick, one notice per intent past 10 minutes.
pub async fn unresolved_intents(deps: &Deps, report: &mut ScanReport) -> DomainResult<()> {
    let open = deps.store.open_intents().await?;
    let now = deps.clock.now();
    let emf = &deps.metrics.emf;
    emf.record(names::AMBIGUOUS_INTENTS, i64::try_from(open.len()).unwrap_or(i64::MAX), &[], &[]);
    let oldest = open.iter().min_by_key(|i| (i.created_at, i.id.clone()));
    match oldest {
        Some(i) => {
            let age = secs_between(i.created_at, now).max(0);
            emf.record(names::AMBIGUOUS_INTENT_AGE, age, &[], &[("intent", i.id.as_str())]);
            report.oldest_age_secs = Some(age);
        }
        // Nothing unresolved: the alarm's metric says so rather than going missing.
        None => emf.record(names::AMBIGUOUS_INTENT_AGE, 0, &[], &[]),
    }
    report.open_intents = Some(open.len());
    for intent in open.iter().filter(|i| secs_between(i.created_at, now) >= STUCK_AFTER_SECS) {
        match deps.store.mark_once(&format!("scan:stuck-intent:{}", intent.id), now, now.plus(TOLD_FOR)).await {
            Ok(true) => {
                tell_admins(deps, &stuck_notice(intent, secs_between(intent.created_at, now))).await;
                tracing::warn!(intent = %intent.id, user = %intent.user, state = intent.state.as_str(), "intent outcome unknown for over 10 minutes; admins told");
                report.stuck_told.push(intent.id.clone());
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(intent = %intent.id, error = %e, "stuck intent not reported (marker unavailable); next tick"),
        }
    }
    Ok(())
}

/// What the admins read about an intent whose outcome is unknown.
pub fn stuck_notice(intent: &Intent, age_secs: i64) -> String {
    format!(
        "⚠️ <b>Intent outcome unknown for {} min</b>\nIntent <code>{}</code> of user {} is {} ({}); Vanta will not send it again \
         until its outcome is known.\nWhat to do: check the trader's trades on Veranta, then \
         <code>vanta-ops resolve-intent {}</code> (add <code>--not-executed REASON --yes</code> if it never executed). \
         Runbook: ambiguous intents.",
        age_secs / 60,
        html_escape(intent.id.as_str()),
        intent.user,
        intent.state.as_str(),
        html_escape(intent.action.name()),
        html_escape(intent.id.as_str()),
    )
}

/// Sends `html` to every admin (through the notices queue where there is one).
async fn tell_admins(deps: &Deps, html: &str) {
    if deps.config.admin_ids.is_empty() {
        tracing::warn!("no admin to tell (ADMIN_USER_IDS is empty)");
    }
    for admin in &deps.config.admin_ids {
        send(deps, *admin, ChatId(admin.0), html).await;
    }
}

async fn send(deps: &Deps, user: TelegramUserId, chat: ChatId, html: &str) {
    if let Some(queue) = &deps.notices {
        let notice = crate::notifier::Notice { user, chat, html: html.to_owned() };
        match crate::notifier::enqueue(queue.as_ref(), &notice).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(user = %user, error = %e, "scan notice not queued; sending it directly"),
        }
    }
    if let Err(e) = deps.chat.send(&OutgoingMessage::text(chat, html.to_owned())).await {
        tracing::warn!(user = %user, error = %e, "scan notice not delivered");
    }
}

/// The delegation scan, when due: every active user with a wallet and a delegate address.
pub async fn delegations(deps: &Deps, report: &mut ScanReport) -> DomainResult<()> {
    let Some(venue) = deps.live.clone() else { return Ok(()) };
    let now = deps.clock.now();
    if !deps.store.mark_once("scan:delegations", now, now.plus(DELEGATION_SCAN_EVERY)).await? {
        return Ok(());
    }
    let users = deps.store.wallet_users().await?;
    let mut checked = 0usize;
    for user in users.iter().filter(|u| u.active) {
        let Some(trader) = user.trader else { continue };
        let Some(delegate) = crate::delegates::address_for(deps, user) else {
            tracing::warn!(user = %user.id, "no delegate address known to this function; delegation not checked");
            continue;
        };
        let delegation = venue.delegation(trader, delegate).await;
        checked += 1;
        crate::emf::delegation_checked(deps, user.id, &delegation);
        match delegation {
            Ok(Some(d)) if d.can_trade => {
                if let Some(at) = d.expires_at
                    && secs_between(now, at) < DELEGATION_WARN_SECS
                    && warn_user(deps, user, at).await
                {
                    report.expiring_told.push(user.id);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(user = %user.id, error = %e, "delegation not readable; next run"),
        }
    }
    report.delegations_checked = Some(checked);
    Ok(())
}

/// Tells `user` once per expiry time that their delegation ends at `at`; whether it was told now.
async fn warn_user(deps: &Deps, user: &User, at: Timestamp) -> bool {
    let now = deps.clock.now();
    match deps.store.mark_once(&format!("scan:delegation-expiry:{}:{}", user.id, at.millis()), now, now.plus(TOLD_FOR)).await {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::warn!(user = %user.id, error = %e, "delegation warning not sent (marker unavailable); next run");
            return false;
        }
    }
    send(deps, user.id, user.chat, &expiry_notice(deps, user, at)).await;
    true
}

/// What a user reads when their delegation is about to end.
pub fn expiry_notice(deps: &Deps, user: &User, at: Timestamp) -> String {
    let when = crate::telegram::render::utc(at);
    let left = secs_between(deps.clock.now(), at);
    let head = if left <= 0 {
        format!("⏳ <b>Your delegation to Vanta has expired</b> ({when} UTC).")
    } else {
        format!("⏳ <b>Your delegation to Vanta ends in {} h</b> ({when} UTC).", left / 3600)
    };
    let delegate = crate::delegates::address_for(deps, user).map(|d| format!(" <code>{d}</code>")).unwrap_or_default();
    format!(
        "{head}\nAfter that your LIVE trades, closes by Vanta and TP/SL updates will fail. What to do: renew the delegate{delegate} \
         at {} (trading allowed), then check it with /wallet.",
        crate::wallet::DELEGATE_UI_URL
    )
}
