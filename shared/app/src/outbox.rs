//! What handlers send out: intents and fan-out pages onto `signals.fifo` (with the one envelope
//! the worker reads, [`Delivery`]), and notices to users ([`notify`], with the DRY/LIVE
//! [`banner`]). Every module that queues or tells goes through here, so the pipeline, copy
//! trading, the bot and the schedules share it without importing one another.

use serde::{Deserialize, Serialize};
use vanta_domain::copy::FanoutJob;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, trading_account};
use vanta_domain::ports::{OutgoingMessage, QueueMessage};
use vanta_domain::user::User;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;

/// The body of a `signals.fifo` message that carries an intent.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub intent_id: IntentId,
}

/// The body of a `signals.fifo` message that carries a fan-out page.
#[derive(Debug, Serialize, Deserialize)]
pub struct FanoutEnvelope {
    pub fanout: FanoutJob,
}

/// A `signals.fifo` message as the worker reads it.
#[derive(Debug)]
pub enum Delivery {
    Intent(IntentId),
    Fanout(Box<FanoutJob>),
}

impl Delivery {
    /// Reads a message body; unreadable is `Invalid` (the message goes to the DLQ, never dropped).
    pub fn read(body: &str) -> DomainResult<Self> {
        if let Ok(env) = serde_json::from_str::<Envelope>(body) {
            return Ok(Delivery::Intent(env.intent_id));
        }
        match serde_json::from_str::<FanoutEnvelope>(body) {
            Ok(env) => Ok(Delivery::Fanout(Box::new(env.fanout))),
            Err(e) => Err(DomainError::Invalid(format!("unreadable queue message: {e}"))),
        }
    }
}

fn body(envelope: &impl Serialize) -> DomainResult<String> {
    serde_json::to_string(envelope).map_err(|e| DomainError::Internal(format!("queue message not written: {e}")))
}

/// The queue group of a user: their trading account, so each account's intents run in order.
pub fn queue_group(user: &User) -> String {
    trading_account(user).key()
}

/// Enqueues an intent for the pipeline (group = the user's account, dedup = the intent id).
pub async fn enqueue(deps: &Deps, user: &User, intent: &IntentId) -> DomainResult<()> {
    let body = body(&Envelope { intent_id: intent.clone() })?;
    deps.queue.send(QueueMessage { group: queue_group(user), dedup_id: intent.as_str().to_owned(), body }).await
}

/// Enqueues a page of a copy fan-out (group = the leader position, dedup = event and page).
pub async fn enqueue_fanout(deps: &Deps, job: &FanoutJob) -> DomainResult<()> {
    let body = body(&FanoutEnvelope { fanout: job.clone() })?;
    deps.queue.send(QueueMessage { group: job.group(), dedup_id: job.dedup_id(), body }).await
}

/// Escapes text for Telegram's HTML parse mode.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The banner on every trading message.
pub fn banner(mode: ExecMode) -> &'static str {
    match mode {
        ExecMode::Dry => "🧪 <b>DRY</b>",
        ExecMode::Live => "🔴 <b>LIVE</b>",
    }
}

/// Tells the user something; a chat failure never fails the trade. With a notifications queue
/// (the Lambda functions) the notice is queued for the notifier, which retries it through a
/// Telegram outage; without one, or if queueing fails, it is sent at once.
pub async fn notify(deps: &Deps, user: &User, mode: ExecMode, text: &str) {
    if !user.active {
        return;
    }
    let msg = OutgoingMessage::text(user.chat, format!("{} · {text}", banner(mode)));
    if let Some(queue) = &deps.notices {
        let notice = crate::notifier::Notice { user: user.id, chat: user.chat, html: msg.html.clone() };
        match crate::notifier::enqueue(queue.as_ref(), &notice).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(user = %user.id, error = %e, "notice not queued; sending it directly"),
        }
    }
    if let Err(e) = deps.chat.send(&msg).await {
        tracing::warn!(user = %user.id, error = %e, "notification not delivered");
        if matches!(e, DomainError::Forbidden(_)) {
            mark_inactive(deps, user).await;
        }
    }
}

/// Marks a user who blocked the bot inactive (nothing is sent to them any more; their exits
/// still run). Best effort: a failed write is logged, and the next notice tries again.
pub async fn mark_inactive(deps: &Deps, user: &User) {
    let mut u = user.clone();
    u.active = false;
    if let Err(e) = deps.store.update_user(&u).await {
        tracing::warn!(user = %user.id, error = %e, "user not marked inactive");
    }
}
