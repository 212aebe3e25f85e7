//! Notices (fills, closes, TP/SL hits, refusals) go through `notifications.fifo` and the
//! `notifier` function, so a Telegram outage delays them instead of losing them.
//!
//! - [`enqueue`] puts a notice on the queue: group = the chat (one chat's notices stay in order),
//!   deduplication id = a digest of the chat, the text and the delivery that produced it (the
//!   worker's intent, see [`scope`]), so a redelivered intent does not notify twice while two
//!   different intents with the same text both do.
//! - [`handle_delivery`] (the notifier function) sends one notice. Sent: done. The user blocked
//!   the bot (403): they are marked inactive and the notice is dropped (there is nobody to deliver
//!   to). Anything else (Telegram down, 5xx, flood control longer than the chat adapter waits):
//!   `Err`, the queue delivers it again later, and after [`MAX_RECEIVES`] it is in the DLQ.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vanta_domain::ids::{ChatId, TelegramUserId};
use vanta_domain::ports::{OutgoingMessage, Queue, QueueMessage};
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;

/// Deliveries of a notice before it is moved to the notifications DLQ (the template's
/// `maxReceiveCount` of `NotificationsQueue`). With its 95 s visibility timeout that is about 40
/// minutes of Telegram outage survived before an operator has to redrive.
pub const MAX_RECEIVES: u32 = 25;

/// The longest Telegram `retry_after` (flood control) the notifier waits out in place; a longer
/// one leaves the notice to the queue's redelivery.
pub const MAX_RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The body of a `notifications.fifo` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Whose notice it is (marked inactive if they blocked the bot).
    pub user: TelegramUserId,
    pub chat: ChatId,
    /// HTML, escaped and with its banner already.
    pub html: String,
}

/// What makes notices of one delivery stable across redeliveries.
struct NoticeScope {
    key: String,
    /// How often each text was noticed in this delivery (the second identical notice of one
    /// intent, say two equal closes of a flatten, is a different notice).
    seen: HashMap<String, u32>,
}

tokio::task_local! {
    static SCOPE: RefCell<NoticeScope>;
}

/// Runs `fut` with notices keyed by `key` (the worker passes the intent it runs): the same
/// notices produced again by a redelivery get the same deduplication ids.
pub async fn scope<F: std::future::Future>(key: String, fut: F) -> F::Output {
    SCOPE.scope(RefCell::new(NoticeScope { key, seen: HashMap::new() }), fut).await
}

/// The FIFO group of a chat's notices.
pub fn group(chat: ChatId) -> String {
    format!("chat:{}", chat.0)
}

/// The deduplication id of a notice: the chat, the text, and the delivery's key with the text's
/// occurrence in it; outside a [`scope`], a random key (nothing to deduplicate against).
fn dedup_id(notice: &Notice) -> String {
    let key = SCOPE
        .try_with(|s| {
            let mut s = s.borrow_mut();
            let n = s.seen.entry(notice.html.clone()).or_insert(0);
            let occurrence = *n;
            *n += 1;
            format!("{}#{occurrence}", s.key)
        })
        .unwrap_or_else(|_| hex::encode(rand::random::<[u8; 16]>()));
    let mut h = Sha256::new();
    for part in [notice.chat.0.to_string().as_str(), key.as_str(), notice.html.as_str()] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("n-{}", hex::encode(h.finalize()))
}

/// Puts a notice on the notifications queue.
pub async fn enqueue(queue: &dyn Queue, notice: &Notice) -> DomainResult<()> {
    let body = serde_json::to_string(notice).map_err(|e| DomainError::Internal(format!("notice: {e}")))?;
    queue.send(QueueMessage { group: group(notice.chat), dedup_id: dedup_id(notice), body }).await
}

/// One delivery of a notice (the `notifier` function); `receive_count` is SQS's
/// `ApproximateReceiveCount`. `Ok` deletes the message, `Err` leaves it for redelivery.
pub async fn handle_delivery(deps: &Deps, body: &str, receive_count: u32) -> DomainResult<()> {
    let notice: Notice = serde_json::from_str(body).map_err(|e| DomainError::Invalid(format!("unreadable notice: {e}")))?;
    let sent = deps.chat.send(&OutgoingMessage::text(notice.chat, notice.html.clone())).await;
    crate::emf::notice_delivery(deps, &sent);
    match sent {
        Ok(()) => Ok(()),
        Err(DomainError::Forbidden(_)) => {
            // Blocked the bot: nothing can be delivered; stop sending them anything.
            if let Some(mut user) = deps.store.get_user(notice.user).await?
                && user.active
            {
                user.active = false;
                deps.store.update_user(&user).await?;
            }
            tracing::info!(user = %notice.user, "user blocked the bot; marked inactive, notice dropped");
            Ok(())
        }
        Err(e) => {
            if receive_count >= MAX_RECEIVES {
                tracing::error!(user = %notice.user, error = %e, receive_count, "notice not delivered; it goes to the DLQ");
            } else {
                tracing::warn!(user = %notice.user, error = %e, receive_count, "notice not delivered yet; the queue will redeliver it");
            }
            Err(e)
        }
    }
}
