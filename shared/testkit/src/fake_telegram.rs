//! A fake Telegram Bot API on a free loopback port: `POST /bot<token>/<method>` with JSON,
//! form-urlencoded or multipart bodies (sendPhoto), answered like the real API
//! (`{"ok":true,"result":…}`; `sendMessage` returns a Message with increasing `message_id`).
//!
//! Every call is recorded with its parameters. Test switches: the next call of a method answers
//! `429 Too Many Requests` with `parameters.retry_after` (once), a chat that "blocked the bot"
//! answers `403 Forbidden: bot was blocked by the user`, an outage (every call answers an error
//! status, e.g. 502, until it ends), and queued updates for `getUpdates`.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::server::Server;

/// One call as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct TgCall {
    pub method: String,
    /// The token from the URL (tests check it is the configured one).
    pub token: String,
    /// JSON params, or the form fields (files as `{"filename","size","png"}`).
    pub params: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The `message_id` of the message a send created or an edit changed.
    pub message_id: Option<i64>,
}

impl TgCall {
    pub fn ok(&self) -> bool {
        self.status == 200
    }
    /// A parameter as text (numbers and strings alike).
    pub fn param(&self, name: &str) -> Option<String> {
        match self.params.get(name)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
    pub fn chat_id(&self) -> Option<i64> {
        self.param("chat_id")?.parse().ok()
    }
    pub fn text(&self) -> String {
        self.param("text").or_else(|| self.param("caption")).unwrap_or_default()
    }
    /// Callback data of every inline button, row by row.
    pub fn button_data(&self) -> Vec<String> {
        let markup = match self.params.get("reply_markup") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        markup
            .get("inline_keyboard")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| b.get("callback_data").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }
}

#[derive(Default)]
struct State {
    calls: Vec<TgCall>,
    next_message_id: i64,
    retry_after: VecDeque<(String, u32)>,
    blocked: HashSet<i64>,
    updates: VecDeque<Value>,
    /// While set, every call answers this status (an outage).
    down: Option<u16>,
    /// The registered webhook (`setWebhook`): url, secret token, allowed updates.
    webhook: Option<(String, Option<String>, Option<Value>)>,
    /// `last_error_message` that `getWebhookInfo` reports.
    webhook_error: Option<String>,
}

/// A running fake; stopped on drop.
pub struct FakeTelegram {
    /// `http://127.0.0.1:<port>`, for `TELEGRAM_API_URL`.
    pub url: String,
    state: Arc<Mutex<State>>,
    /// Woken after every call the fake has answered (see [`FakeTelegram::wait_until`]).
    answered: Arc<Notify>,
    _server: Server,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeTelegram {
    /// Binds a free loopback port and serves until dropped. Needs a Tokio runtime.
    pub async fn start() -> Result<Self, String> {
        let state = Arc::new(Mutex::new(State { next_message_id: 1000, ..State::default() }));
        let served = Arc::clone(&state);
        let answered = Arc::new(Notify::new());
        let notify = Arc::clone(&answered);
        let server = Server::start("fake Telegram", move |req| handle(Arc::clone(&served), Arc::clone(&notify), req))
            .await
            .map_err(|e| format!("fake Telegram cannot bind: {e}"))?;
        Ok(Self { url: server.url(), state, answered, _server: server })
    }

    /// Waits until `done` holds for the fake, checked now and after every call it answers, at
    /// most `timeout`; whether it holds. What a test waits on instead of sleeping.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let answered = self.answered.notified();
            tokio::pin!(answered);
            // Registered before the check, so a call answered in between still wakes us.
            answered.as_mut().enable();
            if done(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, answered).await.is_err() {
                return done(self);
            }
        }
    }

    /// Every call so far, oldest first (refused ones included, with their status).
    pub fn calls(&self) -> Vec<TgCall> {
        lock(&self.state).calls.clone()
    }
    /// Successful calls of one method.
    pub fn calls_of(&self, method: &str) -> Vec<TgCall> {
        self.calls().into_iter().filter(|c| c.method == method && c.ok()).collect()
    }
    /// Texts of the messages delivered to `chat`.
    pub fn texts_to(&self, chat: i64) -> Vec<String> {
        self.calls_of("sendMessage").into_iter().filter(|c| c.chat_id() == Some(chat)).map(|c| c.text()).collect()
    }
    pub fn clear(&self) {
        lock(&self.state).calls.clear();
    }
    /// The next call of `method` answers 429 with `retry_after` seconds, once.
    pub fn retry_after_once(&self, method: &str, secs: u32) {
        lock(&self.state).retry_after.push_back((method.to_owned(), secs));
    }
    /// Starts an outage: every call answers `status` (e.g. 502, 503) until [`Self::recover`].
    pub fn go_down(&self, status: u16) {
        lock(&self.state).down = Some(status);
    }
    /// Ends an outage.
    pub fn recover(&self) {
        lock(&self.state).down = None;
    }
    /// Sends to `chat` answer 403 "bot was blocked by the user".
    pub fn block(&self, chat: i64) {
        lock(&self.state).blocked.insert(chat);
    }
    /// Queues an update for `getUpdates`.
    pub fn push_update(&self, update: Value) {
        lock(&self.state).updates.push_back(update);
    }
    /// The webhook `setWebhook` registered: url and secret token.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        lock(&self.state).webhook.as_ref().map(|(u, s, _)| (u.clone(), s.clone()))
    }
    /// Makes `getWebhookInfo` report a failed delivery (as Telegram does when the bot answers
    /// 401 to a wrong secret), or clears it.
    pub fn set_webhook_error(&self, message: Option<&str>) {
        lock(&self.state).webhook_error = message.map(str::to_owned);
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

async fn handle(state: Arc<Mutex<State>>, answered: Arc<Notify>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let long_poll = req.uri().path().to_ascii_lowercase().ends_with("/getupdates");
    let resp = answer(Arc::clone(&state), req).await;
    answered.notify_waiters();
    // Long polling: with nothing queued, hold the call a little (as Telegram holds it up to
    // `timeout`), so a polling loop does not spin.
    if long_poll && resp.status() == StatusCode::OK && lock(&state).updates.is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    resp
}

async fn answer(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let content_type = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let Some((token, method)) = path.strip_prefix("/bot").and_then(|p| p.split_once('/')) else {
        return reply(StatusCode::NOT_FOUND, json!({"ok": false, "error_code": 404, "description": "Not Found"}));
    };
    // Method names are case-insensitive (teloxide sends `SendMessage`): record them as documented.
    let mut chars = method.chars();
    let method = chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default();
    let method = method.as_str();
    let params = parse_params(&content_type, &body);
    let mut st = lock(&state);
    let mut record = TgCall { method: method.to_owned(), token: token.to_owned(), params: params.clone(), status: 200, message_id: None };
    if let Some(status) = st.down {
        record.status = status;
        st.calls.push(record);
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        return reply(code, json!({"ok": false, "error_code": status, "description": "Bad Gateway"}));
    }
    if let Some(pos) = st.retry_after.iter().position(|(m, _)| m == method) {
        let secs = st.retry_after.remove(pos).map_or(1, |(_, s)| s);
        record.status = 429;
        st.calls.push(record);
        return reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {secs}"), "parameters": {"retry_after": secs}}),
        );
    }
    let chat = record.chat_id();
    if chat.is_some_and(|c| st.blocked.contains(&c)) && method.starts_with("send") {
        record.status = 403;
        st.calls.push(record);
        return reply(
            StatusCode::FORBIDDEN,
            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
        );
    }
    let result = match method {
        "sendMessage" | "sendPhoto" | "editMessageText" => {
            let id = if method == "editMessageText" {
                record.param("message_id").and_then(|m| m.parse().ok()).unwrap_or(0)
            } else {
                st.next_message_id += 1;
                st.next_message_id
            };
            record.message_id = Some(id);
            let mut m = json!({
                "message_id": id,
                "date": 1_795_852_800,
                "chat": {"id": chat.unwrap_or(0), "type": "private", "first_name": "Test"},
                "from": {"id": 1, "is_bot": true, "first_name": "Vanta", "username": "vanta_test_bot"},
            });
            if let Some(obj) = m.as_object_mut() {
                if method == "sendPhoto" {
                    obj.insert(
                        "photo".into(),
                        json!([{"file_id": "photo-1", "file_unique_id": "u1", "width": 480, "height": 240, "file_size": 1000}]),
                    );
                    obj.insert("caption".into(), json!(record.text()));
                } else {
                    obj.insert("text".into(), json!(record.text()));
                }
            }
            m
        }
        "getUpdates" => {
            let offset = record.param("offset").and_then(|o| o.parse::<i64>().ok()).unwrap_or(0);
            st.updates.retain(|u| u.get("update_id").and_then(Value::as_i64).unwrap_or(0) >= offset);
            let out: Vec<Value> = st.updates.iter().cloned().collect();
            Value::Array(out)
        }
        "getMe" => json!({"id": 1, "is_bot": true, "first_name": "Vanta", "username": "vanta_test_bot"}),
        "setWebhook" => {
            let allowed = record.params.get("allowed_updates").cloned();
            st.webhook = record.param("url").filter(|u| !u.is_empty()).map(|u| (u, record.param("secret_token"), allowed));
            Value::Bool(true)
        }
        "deleteWebhook" => {
            st.webhook = None;
            Value::Bool(true)
        }
        "getWebhookInfo" => {
            let mut info = json!({"url": "", "has_custom_certificate": false, "pending_update_count": st.updates.len()});
            if let (Some(obj), Some((url, _, allowed))) = (info.as_object_mut(), &st.webhook) {
                obj.insert("url".into(), json!(url));
                if let Some(a) = allowed {
                    obj.insert("allowed_updates".into(), a.clone());
                }
                if let Some(e) = &st.webhook_error {
                    obj.insert("last_error_date".into(), json!(1_795_852_800));
                    obj.insert("last_error_message".into(), json!(e));
                }
            }
            info
        }
        _ => Value::Bool(true),
    };
    st.calls.push(record);
    reply(StatusCode::OK, json!({"ok": true, "result": result}))
}

fn parse_params(content_type: &str, body: &[u8]) -> Value {
    if content_type.starts_with("multipart/form-data") {
        let boundary = content_type.split("boundary=").nth(1).unwrap_or_default().trim_matches('"');
        return Value::Object(parse_multipart(boundary, body));
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(body);
        let map: Map<String, Value> =
            text.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), Value::String(v.replace('+', " ")))).collect();
        return Value::Object(map);
    }
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| hay.get(i..i + needle.len()) == Some(needle))
}

fn parse_multipart(boundary: &str, body: &[u8]) -> Map<String, Value> {
    let mut out = Map::new();
    if boundary.is_empty() {
        return out;
    }
    let delim = format!("--{boundary}");
    let mut pos = 0;
    while let Some(start) = find(body, delim.as_bytes(), pos) {
        let part_start = start + delim.len();
        let Some(end) = find(body, delim.as_bytes(), part_start) else { break };
        let part = body.get(part_start..end).unwrap_or_default();
        pos = end;
        let Some(split) = find(part, b"\r\n\r\n", 0) else { continue };
        let headers = String::from_utf8_lossy(part.get(..split).unwrap_or_default()).to_string();
        let mut content = part.get(split + 4..).unwrap_or_default();
        if content.ends_with(b"\r\n") {
            content = content.get(..content.len() - 2).unwrap_or_default();
        }
        let attr = |name: &str| -> Option<String> {
            let key = format!("{name}=\"");
            let i = headers.find(&key)? + key.len();
            let rest = headers.get(i..)?;
            Some(rest.get(..rest.find('"')?)?.to_owned())
        };
        let Some(name) = attr("name") else { continue };
        let value = match attr("filename") {
            Some(filename) => json!({"filename": filename, "size": content.len(), "png": content.starts_with(b"\x89PNG\r\n\x1a\n")}),
            None => Value::String(String::from_utf8_lossy(content).to_string()),
        };
        out.insert(name, value);
    }
    // `"photo": "attach://<part>"` points at a file part: show the file under the field's name.
    let attached: Vec<(String, String)> = out
        .iter()
        .filter_map(|(k, v)| v.as_str().and_then(|s| s.strip_prefix("attach://")).map(|part| (k.clone(), part.to_owned())))
        .collect();
    for (field, part) in attached {
        if let Some(file) = out.remove(&part) {
            out.insert(field, file);
        }
    }
    out
}
