//! Long polling for the local runner: with a real `TELEGRAM_BOT_TOKEN` and no webhook secret,
//! `getUpdates` feeds each update to [`telegram::process_update`] — the same code the webhook
//! runs after its secret check — so a user can talk to the bot without deploying anything.

use std::time::Duration;

use tokio::sync::watch;
use vanta_app::{Deps, telegram};
use vanta_telegram::TelegramChat;

/// Server-side wait of one `getUpdates` call.
const POLL_SECS: u32 = 25;

pub async fn run(deps: Deps, chat: TelegramChat, mut stop: watch::Receiver<bool>) {
    if let Err(e) = chat.set_my_commands(telegram::COMMANDS).await {
        tracing::warn!(error = %e, "setMyCommands failed; the command menu is not registered");
    }
    tracing::info!("telegram long polling started");
    let mut offset = 0i64;
    loop {
        let got = tokio::select! {
            r = chat.get_updates(offset, POLL_SECS) => r,
            _ = stop.changed() => return,
        };
        let mut pause = false;
        match got {
            Ok(updates) => {
                for u in updates {
                    let Some(id) = u.get("update_id").and_then(serde_json::Value::as_i64) else { continue };
                    if let Err(e) = telegram::process_update(&deps, u.to_string().as_bytes()).await {
                        // Not recorded: leave the offset here so the update comes again.
                        tracing::warn!(error = %e, update_id = id, "update not handled; will fetch it again");
                        pause = true;
                        break;
                    }
                    offset = offset.max(id.saturating_add(1));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "getUpdates failed");
                pause = true;
            }
        }
        if pause {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {},
                _ = stop.changed() => return,
            }
        }
    }
}
