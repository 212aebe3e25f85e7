//! The Chat port over the Telegram Bot API (`teloxide-core`), pointed at `TELEGRAM_API_URL` so
//! tests and the local runner can use a fake server.

use async_trait::async_trait;
use teloxide_core::payloads::SendMessageSetters;
use teloxide_core::requests::Requester;
use teloxide_core::types::{ChatId as TgChatId, InlineKeyboardButton, InlineKeyboardMarkup, ParseMode};
use teloxide_core::{ApiError, Bot, RequestError};
use vanta_domain::ports::{Chat, OutgoingMessage};
use vanta_domain::{DomainError, DomainResult};

/// Sends through the Bot API.
#[derive(Clone)]
pub struct TelegramChat {
    bot: Bot,
}

impl std::fmt::Debug for TelegramChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelegramChat { .. }") // the bot holds the token
    }
}

impl TelegramChat {
    /// `api_url` is the Bot API root (`https://api.telegram.org` or a fake server).
    pub fn new(token: &str, api_url: &str) -> DomainResult<Self> {
        let url = url::Url::parse(api_url).map_err(|_| DomainError::Invalid("TELEGRAM_API_URL is not a URL".into()))?;
        Ok(Self { bot: Bot::new(token).set_api_url(url) })
    }
    pub fn bot(&self) -> &Bot {
        &self.bot
    }
}

#[async_trait]
impl Chat for TelegramChat {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        let mut req = self.bot.send_message(TgChatId(msg.chat.0), msg.html.clone()).parse_mode(ParseMode::Html);
        if !msg.buttons.is_empty() {
            let rows = msg.buttons.iter().map(|row| row.iter().map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone())).collect::<Vec<_>>());
            req = req.reply_markup(InlineKeyboardMarkup::new(rows));
        }
        req.await.map(|_| ()).map_err(map_error)
    }
}

/// Classifies Bot API failures without echoing the request (which holds the token in its URL).
pub fn map_error(e: RequestError) -> DomainError {
    match e {
        RequestError::RetryAfter(s) => DomainError::Unavailable(format!("telegram rate limit: retry after {}s", s.seconds())),
        RequestError::Api(ApiError::BotBlocked | ApiError::UserDeactivated) => DomainError::Forbidden("the user blocked the bot".into()),
        RequestError::Api(api) => DomainError::Invalid(format!("telegram refused the message: {api}")),
        RequestError::Network(_) | RequestError::Io(_) => DomainError::Unavailable("telegram unreachable".into()),
        other => DomainError::Unavailable(format!("telegram error: {}", other.to_string().chars().take(120).collect::<String>())),
    }
}
