//! Telegram updates as Vanta reads them: our own tolerant serde structs (unknown update kinds and
//! fields are ignored, a malformed part only loses that part), and command parsing.

use serde::Deserialize;
use serde_json::Value;

/// The sender of a message or a button press. Authorisation uses `id` only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Sender {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub first_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Chat {
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl Chat {
    pub fn is_private(&self) -> bool {
        self.kind == "private"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub message_id: i64,
    #[serde(default)]
    pub from: Option<Sender>,
    pub chat: Chat,
    /// Unix seconds.
    #[serde(default)]
    pub date: i64,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
}

/// The message a button hangs under (may be an "inaccessible message": id and chat only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ButtonMessage {
    pub message_id: i64,
    pub chat: Chat,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: Sender,
    #[serde(default)]
    pub message: Option<ButtonMessage>,
    #[serde(default)]
    pub data: Option<String>,
}

/// What an update asks of Vanta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new message from a person (text, or a photo with or without a caption).
    Message(Message),
    /// An edited message: never executed.
    Edited(Message),
    Callback(CallbackQuery),
    /// Anything else (channel posts, member updates, polls, kinds Telegram adds later).
    Ignored(&'static str),
}

/// Reads an update: its id (always, when there is one) and what it asks.
pub fn parse(body: &[u8]) -> Option<(i64, Incoming)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let update_id = v.get("update_id")?.as_i64()?;
    let part = |k: &str| v.get(k).filter(|x| !x.is_null()).cloned();
    let incoming = if let Some(m) = part("message") {
        serde_json::from_value::<Message>(m).map_or(Incoming::Ignored("unreadable message"), Incoming::Message)
    } else if let Some(m) = part("edited_message") {
        serde_json::from_value::<Message>(m).map_or(Incoming::Ignored("unreadable edited message"), Incoming::Edited)
    } else if let Some(c) = part("callback_query") {
        serde_json::from_value::<CallbackQuery>(c).map_or(Incoming::Ignored("unreadable callback query"), Incoming::Callback)
    } else if part("channel_post").is_some() || part("edited_channel_post").is_some() {
        Incoming::Ignored("channel post")
    } else {
        Incoming::Ignored("update kind not handled")
    };
    Some((update_id, incoming))
}

/// A bot command: `/name@bot arg1 arg2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Lower-case, without `/` and `@bot`.
    pub name: String,
    pub args: Vec<String>,
}

/// Parses a command. `None` for text that is not one. A `@bot` suffix is accepted (Telegram adds
/// it in groups); the name is lower-cased; arguments are whitespace-separated.
pub fn command(text: &str) -> Option<Command> {
    let text = text.trim_start();
    let rest = text.strip_prefix('/')?;
    let mut words = rest.split_whitespace();
    let head = words.next()?;
    let name = head.split_once('@').map_or(head, |(n, _)| n).to_ascii_lowercase();
    if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    Some(Command { name, args: words.map(str::to_owned).collect() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn commands_with_bot_names_case_and_unicode() {
        assert_eq!(
            command("/long@VantaBot btc 100 5x").unwrap(),
            Command { name: "long".into(), args: vec!["btc".into(), "100".into(), "5x".into()] }
        );
        assert_eq!(command("  /HELP").unwrap().name, "help");
        assert_eq!(command("/price   ETH  ").unwrap().args, vec!["ETH".to_owned()]);
        assert_eq!(command("/start@bot").unwrap().args.len(), 0);
        assert!(command("hello /start").is_none());
        assert!(command("/").is_none());
        assert!(command("/ünïcode").is_none());
        assert_eq!(command("/bind 🚀").unwrap().args, vec!["🚀".to_owned()]);
    }

    #[test]
    fn updates_of_every_kind_parse_or_are_ignored() {
        let msg = br#"{"update_id":1,"message":{"message_id":5,"from":{"id":7,"is_bot":false,"first_name":"A","new_field":1},"chat":{"id":7,"type":"private"},"date":10,"text":"/start"}}"#;
        let (id, inc) = parse(msg).unwrap();
        assert_eq!(id, 1);
        assert!(matches!(inc, Incoming::Message(m) if m.text.as_deref() == Some("/start") && m.from.clone().unwrap().id == 7));
        let photo = br#"{"update_id":2,"message":{"message_id":6,"from":{"id":7,"is_bot":false,"first_name":"A"},"chat":{"id":7,"type":"private"},"date":10,"photo":[{"file_id":"x","file_unique_id":"y","width":1,"height":1}]}}"#;
        assert!(matches!(parse(photo).unwrap().1, Incoming::Message(m) if m.text.is_none() && m.caption.is_none()));
        let edited = br#"{"update_id":3,"edited_message":{"message_id":6,"from":{"id":7,"first_name":"A"},"chat":{"id":7,"type":"private"},"date":10,"edit_date":11,"text":"/long btc 1 1x"}}"#;
        assert!(matches!(parse(edited).unwrap().1, Incoming::Edited(_)));
        let cb = br#"{"update_id":4,"callback_query":{"id":"99","from":{"id":7,"first_name":"A"},"chat_instance":"c","data":"c:abc","message":{"message_id":8,"date":0,"chat":{"id":7,"type":"private"}}}}"#;
        assert!(
            matches!(parse(cb).unwrap().1, Incoming::Callback(c) if c.data.as_deref() == Some("c:abc") && c.message.clone().unwrap().message_id == 8)
        );
        let poll = br#"{"update_id":5,"poll":{"id":"1","question":"?","options":[]}}"#;
        assert_eq!(parse(poll).unwrap().1, Incoming::Ignored("update kind not handled"));
        let chan =
            br#"{"update_id":6,"channel_post":{"message_id":1,"chat":{"id":-100,"type":"channel"},"date":1,"text":"/long btc 1 1x"}}"#;
        assert_eq!(parse(chan).unwrap().1, Incoming::Ignored("channel post"));
        let broken = br#"{"update_id":7,"message":{"message_id":"x"}}"#;
        assert_eq!(parse(broken).unwrap(), (7, Incoming::Ignored("unreadable message")));
        assert!(parse(b"not json").is_none());
        assert!(parse(br#"{"message":{}}"#).is_none());
    }
}
