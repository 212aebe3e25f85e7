//! The Chat port over the Telegram Bot API (`teloxide-core`), pointed at `TELEGRAM_API_URL` so
//! tests and the local runner can use a fake server.
//!
//! - Replies longer than Telegram's 4096-character limit are split at line breaks (never inside an
//!   HTML tag or entity; formatting open at a cut is closed and reopened), buttons on the last part.
//! - `429 Too Many Requests` is waited out (`retry_after`) and the request sent again, a bounded
//!   number of times; a longer wait than [`TelegramChat::max_retry_wait`] fails as `Unavailable`.
//! - A user who blocked the bot maps to `DomainError::Forbidden` (the caller marks them inactive).
//! - `sendPhoto` (multipart), `answerCallbackQuery`, `editMessageText`, `setMyCommands`, and a raw
//!   `getUpdates` for long polling.
//!
//! The token is part of every request URL; errors are mapped without echoing requests or URLs.
//!
//! The HTTP clients are made on first use (a cold start that sends nothing builds none), and
//! clones share them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use teloxide_core::payloads::{AnswerCallbackQuerySetters, EditMessageTextSetters, SendMessageSetters, SendPhotoSetters};
use teloxide_core::requests::Requester;
use teloxide_core::types::{
    BotCommand, CallbackQueryId, ChatId as TgChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId, ParseMode,
};
use teloxide_core::{ApiError, Bot, RequestError};
use vanta_domain::ports::{Button, Chat, OutgoingMessage, OutgoingPhoto};
use vanta_domain::{DomainError, DomainResult};

/// Telegram's limit for one message's text (counted here in UTF-16 units of the raw HTML, which
/// is never shorter than what Telegram counts after parsing).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Telegram's limit for a photo caption.
pub const MAX_CAPTION_LEN: usize = 1024;
/// Sends of one request in all when Telegram keeps answering 429.
pub const MAX_SEND_ATTEMPTS: u32 = 3;
/// Whole-request timeout of one Bot API call (connect included). With [`MAX_SEND_ATTEMPTS`] and
/// the longest `retry_after` waited out, it bounds how long one send can take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(17);
/// How long teloxide-core pauses after a 5xx answer before it reports it (its
/// `DELAY_ON_SERVER_ERROR`): part of the longest a send can take while Telegram is failing.
pub const SERVER_ERROR_DELAY: Duration = Duration::from_secs(10);

/// Sends through the Bot API.
#[derive(Clone)]
pub struct TelegramChat {
    /// teloxide's bot over its own client (the send timeout), made on the first send.
    bot: Arc<OnceLock<Result<Bot, String>>>,
    api_url: url::Url,
    token: String,
    /// The long-polling client (`getUpdates`, the local runner), made on its first poll.
    http: Arc<OnceLock<Result<reqwest::Client, String>>>,
    max_retry_wait: Duration,
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
        Ok(Self {
            bot: Arc::new(OnceLock::new()),
            api_url: url,
            token: token.to_owned(),
            http: Arc::new(OnceLock::new()),
            max_retry_wait: Duration::from_secs(30),
        })
    }

    /// Whether an HTTP client has been made (a request was sent).
    pub fn has_client(&self) -> bool {
        self.bot.get().is_some() || self.http.get().is_some()
    }

    fn http(&self) -> DomainResult<&reqwest::Client> {
        let made = self.http.get_or_init(|| {
            reqwest::Client::builder().timeout(Duration::from_secs(60)).build().map_err(|_| "cannot build the HTTP client".to_owned())
        });
        made.as_ref().map_err(|e| DomainError::Internal(e.clone()))
    }

    /// The longest `retry_after` waited out (default 30 s); longer ones fail as `Unavailable`.
    pub fn with_max_retry_wait(mut self, d: Duration) -> Self {
        self.max_retry_wait = d;
        self
    }
    pub fn max_retry_wait(&self) -> Duration {
        self.max_retry_wait
    }

    /// The bot (its HTTP client is made on the first call).
    pub fn bot(&self) -> DomainResult<&Bot> {
        let made = self.bot.get_or_init(|| {
            teloxide_core::net::default_reqwest_settings()
                .timeout(SEND_TIMEOUT)
                .build()
                .map(|client| Bot::with_client(&self.token, client).set_api_url(self.api_url.clone()))
                .map_err(|_| "cannot build the HTTP client".to_owned())
        });
        made.as_ref().map_err(|e| DomainError::Internal(e.clone()))
    }

    /// Registers the command list shown in Telegram's menu (`setMyCommands`).
    pub async fn set_my_commands(&self, commands: &[(&str, &str)]) -> DomainResult<()> {
        let list: Vec<BotCommand> = commands.iter().map(|(c, d)| BotCommand::new(*c, *d)).collect();
        let bot = self.bot()?;
        self.retrying(|| bot.set_my_commands(list.clone())).await.map(|_| ())
    }

    /// One long-polling call of `getUpdates`: the updates as raw JSON (so the webhook's parser
    /// handles them, whatever their kind). `timeout_secs` is the server-side wait.
    pub async fn get_updates(&self, offset: i64, timeout_secs: u32) -> DomainResult<Vec<serde_json::Value>> {
        let url = self.method_url("getUpdates")?;
        let body = serde_json::json!({ "offset": offset, "timeout": timeout_secs, "allowed_updates": ["message", "edited_message", "callback_query"] });
        let resp = self
            .http()?
            .post(url)
            .timeout(Duration::from_secs(u64::from(timeout_secs) + 15))
            .json(&body)
            .send()
            .await
            .map_err(|e| unreachable(&e.without_url()))?;
        let status = resp.status().as_u16();
        let v: serde_json::Value =
            resp.json().await.map_err(|_| DomainError::Unavailable(format!("telegram answered {status} with unreadable JSON")))?;
        if v.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
            let desc = v.get("description").and_then(serde_json::Value::as_str).unwrap_or("no description");
            let desc: String = desc.chars().take(200).collect();
            return Err(match status {
                401 | 404 => DomainError::Forbidden(format!("telegram refused the bot token: {desc}")),
                409 => DomainError::Conflict(format!("getUpdates conflicts with a webhook or another poller: {desc}")),
                429 => DomainError::Unavailable(format!("telegram rate limit: {desc}")),
                _ => DomainError::Unavailable(format!("getUpdates failed ({status}): {desc}")),
            });
        }
        Ok(v.get("result").and_then(serde_json::Value::as_array).cloned().unwrap_or_default())
    }

    fn method_url(&self, method: &str) -> DomainResult<url::Url> {
        let base = self.api_url.as_str().trim_end_matches('/');
        url::Url::parse(&format!("{base}/bot{}/{method}", self.token))
            .map_err(|_| DomainError::Invalid("TELEGRAM_API_URL is not a URL".into()))
    }

    /// Sends `make()` and, while Telegram answers 429, waits and sends again (bounded).
    async fn retrying<F, Fut, T>(&self, make: F) -> DomainResult<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::IntoFuture<Output = Result<T, RequestError>>,
    {
        let mut attempt = 1;
        loop {
            match make().into_future().await {
                Ok(v) => return Ok(v),
                Err(RequestError::RetryAfter(s)) if attempt < MAX_SEND_ATTEMPTS && s.duration() <= self.max_retry_wait => {
                    tracing::info!(wait_secs = s.seconds(), attempt, "telegram flood control; waiting before resending");
                    tokio::time::sleep(s.duration()).await;
                    attempt += 1;
                }
                Err(e) => return Err(map_error(e)),
            }
        }
    }
}

fn keyboard(buttons: &[Vec<Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(
        buttons.iter().map(|row| row.iter().map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone())).collect::<Vec<_>>()),
    )
}

#[async_trait]
impl Chat for TelegramChat {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        let bot = self.bot()?;
        let parts = split_html(&msg.html, MAX_MESSAGE_LEN);
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let chat = TgChatId(msg.chat.0);
            let buttons = (i == last && !msg.buttons.is_empty()).then(|| keyboard(&msg.buttons));
            self.retrying(|| {
                let mut req = bot.send_message(chat, part.clone()).parse_mode(ParseMode::Html);
                if let Some(k) = &buttons {
                    req = req.reply_markup(k.clone());
                }
                req
            })
            .await?;
        }
        Ok(())
    }

    async fn send_photo(&self, photo: &OutgoingPhoto) -> DomainResult<()> {
        let caption = split_html(&photo.caption_html, MAX_CAPTION_LEN).into_iter().next().unwrap_or_default();
        let png = bytes::Bytes::from(photo.png.clone());
        let bot = self.bot()?;
        self.retrying(|| {
            bot.send_photo(TgChatId(photo.chat.0), InputFile::memory(png.clone()).file_name("chart.png"))
                .caption(caption.clone())
                .parse_mode(ParseMode::Html)
        })
        .await
        .map(|_| ())
    }

    async fn answer_callback(&self, callback_id: &str, text: Option<&str>, alert: bool) -> DomainResult<()> {
        let id = CallbackQueryId(callback_id.to_owned());
        let bot = self.bot()?;
        self.retrying(|| {
            let mut req = bot.answer_callback_query(id.clone());
            if let Some(t) = text {
                req = req.text(t.chars().take(200).collect::<String>());
            }
            if alert {
                req = req.show_alert(true);
            }
            req
        })
        .await
        .map(|_| ())
    }

    async fn edit(&self, message_id: i64, msg: &OutgoingMessage) -> DomainResult<()> {
        let Ok(id) = i32::try_from(message_id) else { return self.send(msg).await };
        let text = split_html(&msg.html, MAX_MESSAGE_LEN).into_iter().next().unwrap_or_default();
        let bot = self.bot()?;
        let result = self
            .retrying(|| {
                let mut req = bot.edit_message_text(TgChatId(msg.chat.0), MessageId(id), text.clone()).parse_mode(ParseMode::Html);
                // Always set the markup: an empty one removes the old buttons.
                req = req.reply_markup(keyboard(&msg.buttons));
                req
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(DomainError::Invalid(m)) if m.contains("not modified") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Classifies Bot API failures without echoing the request (which holds the token in its URL).
pub fn map_error(e: RequestError) -> DomainError {
    match e {
        RequestError::RetryAfter(s) => DomainError::Unavailable(format!("telegram rate limit: retry after {}s", s.seconds())),
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel,
        ) => DomainError::Forbidden("the user blocked the bot".into()),
        RequestError::Api(ApiError::MessageNotModified) => {
            DomainError::Invalid("telegram refused the message: message is not modified".into())
        }
        RequestError::Api(api) => DomainError::Invalid(format!("telegram refused the message: {api}")),
        // The transport error itself names the URL (the token is in it): only its causes are logged.
        RequestError::Network(e) => unreachable_because(&*e),
        RequestError::Io(e) => unreachable(&*e),
        other => DomainError::Unavailable(format!("telegram error: {}", redact(&other.to_string()))),
    }
}

/// Telegram could not be reached: `e` and its sources are logged once (cut like every other
/// error text, see [`redact`]); the domain error says only that.
fn unreachable(e: &(dyn std::error::Error + 'static)) -> DomainError {
    let chain = match causes(e) {
        c if c.is_empty() => e.to_string(),
        c => format!("{e}: {c}"),
    };
    tracing::warn!(error = %redact(&chain), "telegram unreachable");
    DomainError::Unavailable("telegram unreachable".into())
}

/// Like [`unreachable`], for an error whose own text may hold the URL: its causes only.
fn unreachable_because(e: &(dyn std::error::Error + 'static)) -> DomainError {
    tracing::warn!(error = %redact(&causes(e)), "telegram unreachable");
    DomainError::Unavailable("telegram unreachable".into())
}

/// The texts of `e`'s sources (not `e`'s own), `": "`-joined, each once.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !text.is_empty() && !out.iter().any(|o| o.contains(&text)) {
            out.push(text);
        }
        next = s.source();
    }
    out.join(": ")
}

/// Cuts anything that looks like a bot URL (`/bot<token>/`) out of an error text.
fn redact(s: &str) -> String {
    let short: String = s.chars().take(160).collect();
    match short.find("/bot") {
        Some(i) => format!("{}…", short.get(..i).unwrap_or_default()),
        None => short,
    }
}

// ---------------------------------------------------------------------------------------------
// Splitting
// ---------------------------------------------------------------------------------------------

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Splits Telegram HTML into parts of at most `limit` UTF-16 units: at line breaks where
/// possible, else at spaces, else anywhere outside a tag or an entity. Tags open at a cut are
/// closed at the end of the part and reopened at the start of the next, so every part is valid
/// HTML on its own. Text that fits comes back as one part; empty text as one empty part.
pub fn split_html(html: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(64);
    if units(html) <= limit {
        return vec![html.to_owned()];
    }
    let tokens = tokenize(html);
    let mut parts: Vec<String> = Vec::new();
    let mut open: Vec<OpenTag> = Vec::new();
    let mut current = String::new();
    let mut current_units = 0usize;
    // The last place in `current` where a cut is nice: (byte length, open tags then, quality).
    let mut cut: Option<Cut> = None;
    let closing_len = |open: &[OpenTag]| open.iter().map(|(n, _)| n.len() + 3).sum::<usize>();

    for tok in tokens {
        let tok_units = units(&tok.text);
        // Room needed to close whatever is open after this token.
        let mut open_after = open.clone();
        apply_tag(&mut open_after, &tok);
        if current_units + tok_units + closing_len(&open_after) > limit && !current.is_empty() {
            // Cut at the best place seen, or right here.
            let (at, open_then) = match cut.take() {
                Some((at, o, _)) if at > 0 => (at, o),
                _ => (current.len(), open.clone()),
            };
            let rest = current.split_off(at);
            let mut part = current;
            for (name, _) in open_then.iter().rev() {
                part.push_str(&format!("</{name}>"));
            }
            let trimmed = part.trim_end_matches(['\n', ' ']).to_owned();
            parts.push(if trimmed.is_empty() { part } else { trimmed });
            current = open_then.iter().map(|(_, t)| t.as_str()).collect::<String>();
            current.push_str(rest.trim_start_matches('\n'));
            current_units = units(&current);
        }
        if tok_units > limit {
            // A single unbreakable token longer than a message (cannot happen for tags or
            // entities): cut it by characters.
            for ch in tok.text.chars() {
                if current_units + ch.len_utf16() + closing_len(&open) > limit {
                    let mut part = std::mem::take(&mut current);
                    for (name, _) in open.iter().rev() {
                        part.push_str(&format!("</{name}>"));
                    }
                    parts.push(part);
                    current = open.iter().map(|(_, t)| t.as_str()).collect();
                    current_units = units(&current);
                }
                current.push(ch);
                current_units += ch.len_utf16();
            }
            cut = None;
            continue;
        }
        current.push_str(&tok.text);
        current_units += tok_units;
        apply_tag(&mut open, &tok);
        let quality = match tok.kind {
            TokKind::Newline => 2,
            TokKind::Space => 1,
            _ => 0,
        };
        if quality > 0 && cut.as_ref().is_none_or(|(_, _, q)| quality >= *q || current_units > limit / 2) {
            cut = Some((current.len(), open.clone(), quality));
        }
    }
    if !current.trim().is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// (tag name, the full opening tag).
type OpenTag = (String, String);
/// A place to cut: byte length of the part, the tags open there, how nice a place it is.
type Cut = (usize, Vec<OpenTag>, u8);

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokKind {
    Text,
    Space,
    Newline,
    /// `<b>`, `<a href="…">`, … with the tag name.
    Open(String),
    Close(String),
    /// `&amp;` and friends.
    Entity,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: TokKind,
    text: String,
}

fn apply_tag(open: &mut Vec<OpenTag>, tok: &Tok) {
    match &tok.kind {
        TokKind::Open(name) => open.push((name.clone(), tok.text.clone())),
        TokKind::Close(name) => {
            if let Some(pos) = open.iter().rposition(|(n, _)| n == name) {
                open.remove(pos);
            }
        }
        _ => {}
    }
}

fn tokenize(html: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = html.char_indices().peekable();
    let flush = |text: &mut String, out: &mut Vec<Tok>| {
        if !text.is_empty() {
            out.push(Tok { kind: TokKind::Text, text: std::mem::take(text) });
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => {
                flush(&mut text, &mut out);
                out.push(Tok { kind: TokKind::Newline, text: "\n".into() });
            }
            ' ' => {
                flush(&mut text, &mut out);
                out.push(Tok { kind: TokKind::Space, text: " ".into() });
            }
            '<' => {
                let rest = html.get(i..).unwrap_or_default();
                match rest.find('>') {
                    Some(end) => {
                        flush(&mut text, &mut out);
                        let tag = rest.get(..=end).unwrap_or_default().to_owned();
                        let inner = tag.trim_start_matches('<').trim_end_matches('>');
                        let (closing, body) = match inner.strip_prefix('/') {
                            Some(b) => (true, b),
                            None => (false, inner),
                        };
                        let name: String =
                            body.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>().to_ascii_lowercase();
                        let kind = if closing { TokKind::Close(name) } else { TokKind::Open(name) };
                        // Skip the tag's remaining characters.
                        let tag_chars = tag.chars().count();
                        for _ in 1..tag_chars {
                            chars.next();
                        }
                        out.push(Tok { kind, text: tag });
                    }
                    None => text.push(c),
                }
            }
            '&' => {
                let rest = html.get(i..).unwrap_or_default();
                match rest
                    .find(';')
                    .filter(|end| *end <= 10 && rest.get(1..*end).is_some_and(|e| e.chars().all(|c| c.is_ascii_alphanumeric() || c == '#')))
                {
                    Some(end) => {
                        flush(&mut text, &mut out);
                        let ent = rest.get(..=end).unwrap_or_default().to_owned();
                        for _ in 1..ent.chars().count() {
                            chars.next();
                        }
                        out.push(Tok { kind: TokKind::Entity, text: ent });
                    }
                    None => text.push(c),
                }
            }
            _ => {
                text.push(c);
                // Keep words short enough to pack well.
                if text.len() >= 64 {
                    flush(&mut text, &mut out);
                }
            }
        }
    }
    flush(&mut text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[tokio::test]
    async fn an_unreachable_telegram_keeps_the_cause_and_never_the_token() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/bot123:SECRET/getMe")).send().await.unwrap_err();
        let causes = causes(&err);
        assert!(causes.to_lowercase().contains("connection refused"), "the source chain reaches the I/O error: {causes}");
        assert!(!causes.contains("SECRET"), "{causes}");
        let domain = map_error(RequestError::Network(std::sync::Arc::new(err)));
        assert_eq!(domain, DomainError::Unavailable("telegram unreachable".into()));
    }

    fn balanced(part: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        for t in tokenize(part) {
            match t.kind {
                TokKind::Open(n) => stack.push(n),
                TokKind::Close(n) if stack.pop().as_deref() != Some(n.as_str()) => return false,
                _ => {}
            }
        }
        stack.is_empty()
    }

    #[test]
    fn no_http_client_is_made_before_the_first_request() {
        let chat = TelegramChat::new("123:abc", "http://127.0.0.1:9").unwrap();
        let clone = chat.clone();
        assert!(!chat.has_client(), "a cold start that sends nothing builds no client");
        assert!(chat.bot().is_ok());
        assert!(clone.has_client(), "clones share the client made once");
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_html("hello <b>world</b>", 4096), vec!["hello <b>world</b>".to_owned()]);
        assert_eq!(split_html("", 4096), vec![String::new()]);
    }

    #[test]
    fn ten_thousand_characters_are_three_messages_cut_at_lines() {
        let line = format!("{}\n", "x".repeat(99));
        let text = line.repeat(100);
        assert_eq!(text.chars().count(), 10_000);
        let parts = split_html(&text, 4096);
        assert_eq!(parts.len(), 3);
        for p in &parts {
            assert!(units(p) <= 4096);
            assert!(p.lines().all(|l| l.len() == 99), "cut inside a line");
        }
        assert_eq!(parts.iter().map(|p| p.lines().count()).sum::<usize>(), 100);
    }

    #[test]
    fn never_cuts_inside_tags_or_entities_and_reopens_formatting() {
        let mut text = String::from("<pre>");
        for i in 0..400 {
            text.push_str(&format!("row {i} &amp; <b>bold</b> &lt;tag&gt; <a href=\"https://x.y/{i}\">link</a>\n"));
        }
        text.push_str("</pre>");
        let parts = split_html(&text, 4096);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(units(p) <= 4096, "{}", units(p));
            assert!(balanced(p), "unbalanced part: {}…", &p[..80]);
            assert!(p.starts_with("<pre>") && p.ends_with("</pre>"));
            // No broken entity: every '&' starts a full entity.
            for (i, _) in p.match_indices('&') {
                let rest = &p[i..];
                assert!(
                    rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;"),
                    "{}",
                    &rest[..10.min(rest.len())]
                );
            }
        }
    }

    #[test]
    fn long_lines_and_unicode_split_within_the_limit() {
        let text = "ünïcødé 🚀 ".repeat(1500);
        let parts = split_html(&text, 4096);
        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|p| units(p) <= 4096));
        let joined: String = parts.join(" ");
        assert_eq!(joined.matches('🚀').count(), 1500);
        let one_word = "a".repeat(9000);
        let parts = split_html(&one_word, 4096);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), one_word);
    }

    #[test]
    fn errors_never_echo_the_token() {
        assert_eq!(
            redact("error sending request for url (https://api.telegram.org/bot123:SECRET/sendMessage)"),
            "error sending request for url (https://api.telegram.org…"
        );
        assert!(matches!(map_error(RequestError::Api(ApiError::BotBlocked)), DomainError::Forbidden(_)));
    }
}
