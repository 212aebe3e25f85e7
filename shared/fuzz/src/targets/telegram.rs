//! Telegram updates, command arguments and callback data, through the bot's webhook handler
//! on the in-memory system.

use serde_json::json;
use vanta_app::http::testing::{self, TestRequest};
use vanta_app::telegram::{self, update};

use super::world::{self, ALICE, Said, T0, WEBHOOK_SECRET, World};
use crate::mutate::Mutator;
use crate::{Check, Target, Verdict};

/// Updates handled on one system before a fresh one (keeps users under the per-minute limit).
const WORLD_INPUTS: u32 = 20;

fn message(text: &str) -> Vec<u8> {
    json!({"update_id": 1, "message": {
        "message_id": 10, "from": {"id": ALICE, "is_bot": false, "first_name": "A", "username": "alice"},
        "chat": {"id": ALICE, "type": "private", "first_name": "A"}, "date": T0 / 1000, "text": text,
        "entities": [{"offset": 0, "length": text.split_whitespace().next().map_or(0, str::len), "type": "bot_command"}]
    }})
    .to_string()
    .into_bytes()
}

fn callback(data: &str) -> Vec<u8> {
    json!({"update_id": 2, "callback_query": {
        "id": "cb1", "from": {"id": ALICE, "is_bot": false, "first_name": "A"}, "chat_instance": "42", "data": data,
        "message": {"message_id": 11, "from": {"id": 1, "is_bot": true, "first_name": "Vanta"},
                    "chat": {"id": ALICE, "type": "private"}, "date": T0 / 1000, "text": "…"}
    }})
    .to_string()
    .into_bytes()
}

const COMMAND_LINES: &[&str] = &[
    "/start",
    "/help",
    "/long btc 100 5x tp=120000 sl=95000",
    "/short eth 50 10x",
    "/long@VantaBot BTC/USD 100.5 2.5x slippage=0.3",
    "/close btc",
    "/close all",
    "/positions",
    "/tp btc 130000",
    "/sl btc 90000",
    "/trail btc 2%",
    "/price btc",
    "/markets",
    "/pnl week",
    "/history",
    "/orders",
    "/bind 0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "/verify 0xdeadbeef",
    "/wallet",
    "/balance",
    "/risk",
    "/setrisk max_leverage=10",
    "/signals",
    "/pause",
    "/resume",
    "/follow 0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "/copy 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 fixed=50",
    "/leader on",
    "/status",
    "/exec LIVE",
    "/emergency_stop flatten",
    "/open",
    "hello",
];

const DICTIONARY: &[&str] = &[
    " ",
    "/",
    "@VantaBot",
    "x",
    "5x",
    "0x",
    "tp=",
    "sl=",
    "slippage=",
    "max_leverage=",
    "fixed=",
    "ratio=",
    "%",
    "btc",
    "eth",
    "BTC/USD",
    "all",
    "long",
    "short",
    "day",
    "week",
    "month",
    "on",
    "off",
    "DRY",
    "LIVE",
    "flatten",
    "\u{a0}",
    "\u{3000}",
    "\u{200b}",
    "<b>",
    "</b>",
    "&lt;",
    "\"update_id\"",
    "\"message\"",
    "\"edited_message\"",
    "\"callback_query\"",
    "\"channel_post\"",
    "\"from\"",
    "\"chat\"",
    "\"text\"",
    "\"caption\"",
    "\"date\"",
    "\"is_bot\"",
    "\"type\"",
    "\"private\"",
    "\"group\"",
    "\"supergroup\"",
    "\"data\"",
    "c:",
    "x:",
    "a:",
    "ax:",
    "p:c:",
    "p:s:",
    "p:b:",
    "p:t:",
    "o:",
    "ca",
    ":",
    "::",
];

const CALLBACK_DATA: &[&str] = &[
    "c:0123456789abcdef",
    "x:zz",
    "a:exec:abc",
    "ax:stop:abc",
    "p:c:pos-1",
    "p:s:pos-1",
    "p:b:pos-1",
    "p:t:pos-1",
    "p:c:",
    "ca",
    "o:1",
    "o:1:l",
    "o:1:l:2",
    "o:1:s:0:1",
    "o:0:l:9:9:9",
    "o",
    "",
];

/// What the bot must have done: every person in a private chat gets an answer (a message or a
/// button acknowledgement), and no answer is empty.
fn check(body: &[u8], said: &[Said], seen: &mut std::collections::HashSet<i64>) -> Check {
    for s in said {
        match s {
            Said::Message { html, .. } if html.trim().is_empty() => return Err("an empty message was sent".into()),
            Said::Answer { text: Some(t) } if t.trim().is_empty() => return Err("an empty button answer was sent".into()),
            _ => {}
        }
    }
    let Some((update_id, incoming)) = update::parse(body) else { return Ok(Verdict::Refused("unreadable update".into())) };
    if !seen.insert(update_id) {
        return Ok(Verdict::Refused("duplicate update".into()));
    }
    match incoming {
        update::Incoming::Message(m) => {
            let person = m.from.as_ref().is_some_and(|f| !f.is_bot);
            if person && m.chat.is_private() && !said.iter().any(|s| matches!(s, Said::Message { chat, .. } if *chat == m.chat.id)) {
                return Err(format!("a private message got no reply: {:?}", m.text));
            }
            Ok(Verdict::Accepted)
        }
        update::Incoming::Callback(q) => {
            let answers = said.iter().filter(|s| matches!(s, Said::Answer { .. })).count();
            if !q.from.is_bot && answers != 1 {
                return Err(format!("a button press got {answers} acknowledgements, not 1 ({:?})", q.data));
            }
            Ok(Verdict::Accepted)
        }
        update::Incoming::Edited(_) => Ok(Verdict::Accepted),
        update::Incoming::Ignored(why) => Ok(Verdict::Refused(why.to_owned())),
    }
}

/// The input with its first `"update_id":<digits>` made unique to the input (its hash), so
/// mutations of one seed are not all dropped as repeats of one update. Other inputs unchanged.
fn fresh_update_id(input: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"\"update_id\":";
    let Some(at) = input.windows(KEY.len()).position(|w| w == KEY) else { return input.to_vec() };
    let start = at + KEY.len();
    let end = input.iter().skip(start).position(|b| !b.is_ascii_digit()).map_or(input.len(), |n| start + n);
    if end == start {
        return input.to_vec();
    }
    let id = (world::fnv(input) % 1_000_000_000_000).to_string();
    let mut out = input.get(..start).unwrap_or_default().to_vec();
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(input.get(end..).unwrap_or_default());
    out
}

fn target(name: &'static str, what: &'static str, mutator: Mutator, wrap: fn(&str) -> Vec<u8>) -> Result<Target, String> {
    let rt = world::runtime()?;
    let mut w = rt.block_on(World::new())?;
    let mut router = vanta_app::http::telegram_router(w.deps.clone());
    let mut used = 0u32;
    let mut seen = std::collections::HashSet::new();
    Ok(Target {
        name,
        what,
        mutator,
        run: Box::new(move |input| {
            used += 1;
            if used > WORLD_INPUTS {
                w = rt.block_on(World::new())?;
                router = vanta_app::http::telegram_router(w.deps.clone());
                seen.clear();
                used = 1;
            }
            let before = w.chat.len();
            // Inputs that are not JSON are what a person typed (or a button's data): wrapped in
            // an update.
            let body =
                if input.first() == Some(&b'{') { fresh_update_id(input) } else { fresh_update_id(&wrap(&String::from_utf8_lossy(input))) };
            let req = TestRequest::new("POST", "/telegram").with_header(telegram::SECRET_HEADER, WEBHOOK_SECRET).with_body(body.clone());
            let resp = rt.block_on(testing::send(&router, req));
            if resp.status != 200 {
                return Err(format!("status {} for an authentic update: {}", resp.status, String::from_utf8_lossy(&resp.body)));
            }
            check(&body, &w.chat.since(before), &mut seen)
        }),
    })
}

/// Updates of every kind with mutated command lines and arguments.
pub fn updates() -> Result<Target, String> {
    let mut seeds: Vec<Vec<u8>> = COMMAND_LINES.iter().map(|l| message(l)).collect();
    // Command lines alone (the target wraps them in a message), so most mutations hit the arguments.
    seeds.extend(COMMAND_LINES.iter().map(|l| l.as_bytes().to_vec()));
    seeds.extend(COMMAND_LINES.iter().map(|l| l.as_bytes().to_vec()));
    seeds.push(callback("c:abc"));
    seeds.push(br#"{"update_id":5,"edited_message":{"message_id":6,"from":{"id":7001,"first_name":"A"},"chat":{"id":7001,"type":"private"},"date":1795852800,"text":"/long btc 1 1x"}}"#.to_vec());
    seeds.push(
        br#"{"update_id":6,"channel_post":{"message_id":1,"chat":{"id":-100,"type":"channel"},"date":1795852800,"text":"/long btc 1 1x"}}"#
            .to_vec(),
    );
    seeds.push(br#"{"update_id":7,"message":{"message_id":6,"from":{"id":7001,"is_bot":false,"first_name":"A"},"chat":{"id":-5,"type":"group"},"date":1795852800,"text":"/price btc"}}"#.to_vec());
    seeds.push(br#"{"update_id":8,"message":{"message_id":6,"from":{"id":7001,"is_bot":false,"first_name":"A"},"chat":{"id":7001,"type":"private"},"date":1795852800,"photo":[{"file_id":"x","file_unique_id":"y","width":1,"height":1}],"caption":"/long btc 1 1x"}}"#.to_vec());
    let mut dict: Vec<&str> = DICTIONARY.to_vec();
    dict.extend(COMMAND_LINES.iter().flat_map(|l| l.split_whitespace()));
    dict.extend(telegram::COMMANDS.iter().map(|(c, _)| *c));
    target(
        "telegram-update",
        "Telegram updates and command arguments through the telegram webhook route",
        Mutator::new(seeds, &dict),
        message,
    )
}

/// Button presses with mutated callback data.
pub fn callbacks() -> Result<Target, String> {
    let seeds: Vec<Vec<u8>> = CALLBACK_DATA.iter().map(|d| callback(d)).collect();
    let mut seeds = seeds;
    seeds.extend(CALLBACK_DATA.iter().map(|d| d.as_bytes().to_vec()));
    let mut dict: Vec<&str> = DICTIONARY.to_vec();
    dict.extend(CALLBACK_DATA.iter().flat_map(|d| d.split(':')));
    target("callback-data", "button callback data through the telegram webhook route", Mutator::new(seeds, &dict), callback)
}
