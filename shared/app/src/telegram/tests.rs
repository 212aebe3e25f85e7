#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The command table drives dispatch, `/help` and the menu; the bot's modules import one way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use vanta_domain::DomainResult;
use vanta_domain::ids::ChatId;
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Chat, OutgoingMessage, OutgoingPhoto};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_runtime::Config;

use super::commands::{COMMANDS, Section, TABLE, find, help_text, section_text};
use crate::Deps;

/// `/name` as a whole word of `text` (so `/follow` is not found in `/following`).
fn lists(text: &str, name: &str) -> bool {
    let needle = format!("/{name}");
    text.match_indices(&needle).any(|(i, _)| {
        let next = text[i + needle.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[test]
fn names_and_descriptions_fit_botfather() {
    let mut seen = BTreeSet::new();
    for c in TABLE {
        assert!(seen.insert(c.name), "/{} twice in the table", c.name);
        assert!((1..=32).contains(&c.name.len()), "/{}: 1 to 32 characters", c.name);
        assert!(c.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "/{}: lowercase", c.name);
        let len = c.about.chars().count();
        assert!((3..=256).contains(&len), "/{}: description of {len} characters", c.name);
        assert!(find(c.name).is_some_and(|f| f.name == c.name && f.about == c.about), "/{} is found as itself", c.name);
        // Only market data is answered in groups.
        if c.group {
            assert!(matches!(c.name, "start" | "help" | "markets" | "price"), "/{} answered in groups", c.name);
        }
        assert_eq!(c.admin, c.section == Section::Operators, "/{}: operator commands are the Operators section", c.name);
    }
    assert!(COMMANDS.len() <= 100, "BotFather takes at most 100 commands");
}

#[test]
fn the_menu_holds_exactly_the_commands_that_are_not_for_operators() {
    let want: Vec<(&str, &str)> = TABLE.iter().filter(|c| !c.admin).map(|c| (c.name, c.about)).collect();
    assert_eq!(COMMANDS, want.as_slice());
    for op in ["status", "health", "exec", "flatten_all", "emergency_stop", "emergency_resume"] {
        assert!(find(op).is_some_and(|c| c.admin), "/{op} is an operator command");
        assert!(!COMMANDS.iter().any(|(n, _)| *n == op), "/{op} is not in the menu");
    }
    for user in ["start", "help", "long", "short", "close", "positions", "pnl", "signals", "follow", "risk", "setrisk"] {
        assert!(COMMANDS.iter().any(|(n, _)| *n == user), "/{user} is in the menu");
    }
}

#[test]
fn help_shows_every_command_in_its_section_and_operators_only_to_admins() {
    let (user, admin) = (help_text(false), help_text(true));
    for c in TABLE {
        assert_eq!(lists(&user, c.name), !c.admin, "/{} in the users' /help: {user}", c.name);
        assert!(lists(&admin, c.name), "/{} in the admins' /help", c.name);
        let section = section_text(c.section);
        assert!(lists(&section, c.name), "/{} in /help {}", c.name, c.section.key());
        assert!(section.contains(&super::render::esc(c.about)), "/{}'s description in /help {}", c.name, c.section.key());
    }
    for s in Section::ALL {
        assert_eq!(user.contains(&format!("<b>{}</b>", s.title())), s != Section::Operators, "{}", s.title());
    }
    assert!(user.starts_with("<b>Vanta commands</b>") && user.contains("Every trade asks for a confirmation first."));
    assert!(user.chars().count() < 4096 && admin.chars().count() < 4096, "one Telegram message");
}

// ---------------------------------------------------------------------------------------------
// Dispatch, through the bot's front door
// ---------------------------------------------------------------------------------------------

const T0: i64 = 1_795_852_800_000;
const ADMIN: i64 = 5;

/// A chat that keeps the photos too.
#[derive(Default)]
struct Screen {
    texts: Mutex<Vec<OutgoingMessage>>,
    photos: Mutex<Vec<OutgoingPhoto>>,
}

#[async_trait]
impl Chat for Screen {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        self.texts.lock().unwrap().push(msg.clone());
        Ok(())
    }
    async fn send_photo(&self, photo: &OutgoingPhoto) -> DomainResult<()> {
        self.photos.lock().unwrap().push(photo.clone());
        Ok(())
    }
}

fn deps() -> (Deps, Arc<Screen>) {
    let config = Config::from_lookup(|k| (k == "SUPER_ADMIN_IDS").then(|| ADMIN.to_string())).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let screen = Arc::new(Screen::default());
    let prices = Arc::new(FixedPrices::new());
    let btc = PairSymbol::parse("BTC/USD").unwrap();
    prices.set(btc.clone(), "pyth", Price::from_str("100000").unwrap(), clock.now()).unwrap();
    let pair = PairInfo {
        index: PairIndex(1),
        symbol: btc,
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(75).unwrap(),
        min_position: Usdc::from_str("100").unwrap(),
        open_fee: PercentP::from_str("0.045").unwrap(),
        close_fee: PercentP::from_str("0.045").unwrap(),
        spread: PercentP::from_str("0.01").unwrap(),
        max_gain: PercentP::from_str("2500").unwrap(),
        max_sl: PercentP::from_str("80").unwrap(),
    };
    let catalog = Arc::new(PairCatalog::new([pair]).unwrap());
    let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
    (Deps::new(config, store, queue, screen.clone(), clock, prices, paper), screen)
}

/// Sends `text` from `user` in their private chat; what the bot sent there (texts, photos).
async fn say(deps: &Deps, screen: &Screen, update_id: i64, user: i64, text: &str) -> (String, Vec<OutgoingPhoto>) {
    let (texts, photos) = (screen.texts.lock().unwrap().len(), screen.photos.lock().unwrap().len());
    let body = serde_json::json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": user, "is_bot": false, "first_name": "T"},
            "chat": {"id": user, "type": "private"},
            "date": T0 / 1000,
            "text": text,
        }
    });
    super::process_update(deps, body.to_string().as_bytes()).await.unwrap();
    let replies = screen.texts.lock().unwrap()[texts..].iter().filter(|m| m.chat == ChatId(user)).map(|m| m.html.clone()).collect();
    (replies, screen.photos.lock().unwrap()[photos..].to_vec())
}

#[tokio::test]
async fn every_table_entry_is_dispatched_to_its_handler() {
    let (deps, screen) = deps();
    let unknown = say(&deps, &screen, 1, 100, "/frobnicate").await.0;
    assert!(unknown.contains("Unknown command /frobnicate"), "{unknown}");
    for (i, c) in TABLE.iter().enumerate() {
        let id = i64::try_from(i).unwrap() + 10;
        // A user of their own per command (the rate limit counts per user); operators as the admin.
        let user = if c.admin { ADMIN } else { 1_000 + id };
        let (text, photos) = say(&deps, &screen, id, user, &format!("/{}", c.name)).await;
        assert!(!text.is_empty() || !photos.is_empty(), "/{} answered", c.name);
        assert!(!text.contains("Unknown command"), "/{} dispatched: {text}", c.name);
        if c.name == "help" {
            assert_eq!(text, help_text(false));
        }
        if c.name == "pnl" {
            // The chart, not the caption alone: a readable PNG even with no history.
            assert_eq!(photos.len(), 1, "/pnl sends a photo");
            let info = png::Decoder::new(std::io::Cursor::new(&photos[0].png)).read_info().unwrap().info().clone();
            assert_eq!((info.width, info.height), (super::chart::WIDTH, super::chart::HEIGHT));
            assert!(photos[0].caption_html.contains("PnL, last 24 hours"));
        }
    }
    // Groups get market data and nothing else.
    let group = serde_json::json!({"update_id": 500, "message": {"message_id": 500, "from": {"id": 7, "first_name": "G"},
        "chat": {"id": -42, "type": "group"}, "date": T0 / 1000, "text": "/balance"}});
    super::process_update(&deps, group.to_string().as_bytes()).await.unwrap();
    assert!(screen.texts.lock().unwrap().last().unwrap().html.contains("private chat"));
    // `/help <section>` shows that section; admins see the operators'.
    let (trading, _) = say(&deps, &screen, 501, 2_000, "/help trading").await;
    assert_eq!(trading, section_text(Section::Trading));
    let (ops, _) = say(&deps, &screen, 502, 2_000, "/help operators").await;
    assert_eq!(ops, help_text(false), "not an admin: the overview");
    let (ops, _) = say(&deps, &screen, 503, ADMIN, "/help operators").await;
    assert_eq!(ops, section_text(Section::Operators));
    let (all, _) = say(&deps, &screen, 504, ADMIN, "/help").await;
    assert_eq!(all, help_text(true));
}

// ---------------------------------------------------------------------------------------------
// Layering
// ---------------------------------------------------------------------------------------------

/// The modules under `src/telegram` (`""` is `telegram` itself) and their code, comments and
/// inline test modules left out.
fn bot_modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let join = |name: &str| if prefix.is_empty() { name.to_owned() } else { format!("{prefix}::{name}") };
            if path.is_dir() {
                walk(&path, &join(&stem), out);
            } else if path.extension().is_some_and(|e| e == "rs") && stem != "tests" {
                let module = if stem == "mod" { prefix.to_owned() } else { join(&stem) };
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or_default();
                let code: Vec<&str> = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
                out.insert(module, code.join("\n"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/telegram"), "", &mut out);
    out
}

/// The first segments of each path that starts at `at` in `code` (`{a, b::c}` groups too).
fn paths_after(code: &str, at: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut out = Vec::new();
    for (i, _) in code.match_indices(at) {
        if code[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + at.len()..];
        let heads: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or_default().split(',').map(str::trim).collect(),
            None => vec![rest],
        };
        for head in heads {
            let mut segs = Vec::new();
            let mut s = head;
            loop {
                let seg = ident(s);
                if seg.is_empty() {
                    break;
                }
                s = &s[seg.len()..];
                segs.push(seg);
                match s.strip_prefix("::") {
                    Some(r) => s = r,
                    None => break,
                }
            }
            out.push(segs);
        }
    }
    out
}

/// Which bot modules each bot module refers to (by `crate::telegram::`, `super::`, `self::` or a
/// child's name).
fn imports(modules: &BTreeMap<String, String>) -> BTreeSet<(String, String)> {
    let join = |base: &str, seg: &str| if base.is_empty() { seg.to_owned() } else { format!("{base}::{seg}") };
    // The deepest module a path from `base` names.
    let resolve = |base: &str, segs: &[String]| {
        let mut m = base.to_owned();
        for s in segs {
            let next = join(&m, s);
            if !modules.contains_key(&next) {
                break;
            }
            m = next;
        }
        m
    };
    let parent = |m: &str| m.rsplit_once("::").map_or(String::new(), |(p, _)| p.to_owned());
    let mut edges = BTreeSet::new();
    for (module, code) in modules {
        let mut targets = Vec::new();
        for segs in paths_after(code, "crate::telegram::") {
            targets.push(resolve("", &segs));
        }
        for segs in paths_after(code, "super::") {
            let mut base = parent(module);
            let mut segs = segs.as_slice();
            while let [first, rest @ ..] = segs
                && first == "super"
            {
                base = parent(&base);
                segs = rest;
            }
            targets.push(resolve(&base, segs));
        }
        for segs in paths_after(code, "self::") {
            targets.push(resolve(module, &segs));
        }
        // Children named directly (`commands::run`, `mod.rs` only).
        for child in modules.keys().filter(|k| parent(k) == *module && *k != module) {
            let name = child.rsplit("::").next().unwrap_or(child);
            for segs in paths_after(code, &format!("{name}::")) {
                targets.push(resolve(child, &segs));
            }
        }
        for t in targets {
            if &t != module {
                edges.insert((module.clone(), t));
            }
        }
    }
    edges
}

#[test]
fn no_two_bot_modules_import_each_other() {
    let modules = bot_modules();
    for m in ["", "ui", "ctx", "callbacks", "flows", "admin", "parse", "chart", "commands", "commands::trading"] {
        assert!(modules.contains_key(m), "module {m:?} found: {:?}", modules.keys());
    }
    let edges = imports(&modules);
    // The scan sees the edges that are there.
    for want in [
        ("callbacks", "flows"),
        ("callbacks", "admin"),
        ("admin", "ui"),
        ("ui", "ctx"),
        ("", "commands"),
        ("commands", "commands::trading"),
    ] {
        assert!(edges.contains(&(want.0.to_owned(), want.1.to_owned())), "{want:?} in {edges:?}");
    }
    let cycles: Vec<_> = edges.iter().filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone()))).collect();
    assert!(cycles.is_empty(), "modules importing each other: {cycles:?}");
}
