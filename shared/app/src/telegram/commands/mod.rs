//! Every command, in one table ([`TABLE`]): its name, section, arguments, one-line description,
//! whether it is for operators, whether groups may use it, and its handler. The table drives
//! dispatch ([`run`]), `/help` (by section) and the menu registered with `setMyCommands`
//! ([`COMMANDS`]: the commands that are not for operators). A new command is one row here and
//! one handler in its section's module.
//!
//! Replies are HTML with user text escaped; trading replies carry the DRY/LIVE banner; anything
//! that trades goes through [`crate::telegram::flows::propose`] (a pending intent and a
//! confirmation), never to a venue.

mod automation;
mod markets;
mod onboarding;
mod risk;
mod trading;

use std::future::Future;
use std::pin::Pin;

use vanta_domain::DomainResult;
use vanta_domain::market::Side;

use crate::telegram::admin;
use crate::telegram::ctx::Ctx;
use crate::telegram::render::esc;
use crate::telegram::update::Command;

/// What a handler returns: its reply is already sent; `Err` is answered by [`run`].
pub(crate) type Reply<'a> = Pin<Box<dyn Future<Output = DomainResult<()>> + Send + 'a>>;
/// A command's handler: the update's context and the command's arguments.
pub(crate) type Handler = for<'a> fn(&'a Ctx<'a>, &'a [String]) -> Reply<'a>;

/// The sections of `/help`, in the order shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Start,
    Markets,
    Trading,
    Automation,
    Risk,
    /// Operator commands (shown to admins only, never in the menu).
    Operators,
}

impl Section {
    pub const ALL: [Section; 6] = [Self::Start, Self::Markets, Self::Trading, Self::Automation, Self::Risk, Self::Operators];

    /// The heading in `/help`.
    pub fn title(self) -> &'static str {
        match self {
            Self::Start => "Start",
            Self::Markets => "Markets",
            Self::Trading => "Trade",
            Self::Automation => "Automation",
            Self::Risk => "Risk",
            Self::Operators => "Operators",
        }
    }

    /// The word after `/help` that shows this section in full.
    pub fn key(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Markets => "markets",
            Self::Trading => "trading",
            Self::Automation => "automation",
            Self::Risk => "risk",
            Self::Operators => "operators",
        }
    }

    /// A line under the section's commands in the overview.
    fn note(self) -> Option<&'static str> {
        match self {
            Self::Trading => Some("\u{20} e.g. <code>/long btc 100 5x tp=120000 sl=95000</code>"),
            Self::Operators => Some("\u{20} /exec LIVE and the emergency stop: super-admins only"),
            _ => None,
        }
    }

    /// `trading`, `trade`, `Start`… (case-insensitive).
    fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase();
        Self::ALL.into_iter().find(|x| x.key() == s || x.title().eq_ignore_ascii_case(&s))
    }
}

/// One row of the command table.
pub(crate) struct Spec {
    /// The command without `/` (lower case, as Telegram requires).
    pub name: &'static str,
    pub section: Section,
    /// The arguments' synopsis, HTML (shown by `/help`; empty when there are none).
    pub args: &'static str,
    /// One line for the menu and `/help` (plain text).
    pub about: &'static str,
    /// For operators: left out of the menu, shown by `/help` to admins only. The handler itself
    /// checks who may run it.
    pub admin: bool,
    /// Touches no account, so it is answered in groups too.
    pub group: bool,
    pub run: Handler,
}

impl Spec {
    const fn new(name: &'static str, section: Section, args: &'static str, about: &'static str, run: Handler) -> Self {
        Self { name, section, args, about, admin: false, group: false, run }
    }
    const fn group(self) -> Self {
        Self { group: true, ..self }
    }
    const fn admin(self) -> Self {
        Self { admin: true, ..self }
    }
    /// `/name args`.
    fn usage(&self) -> String {
        if self.args.is_empty() { format!("/{}", self.name) } else { format!("/{} {}", self.name, self.args) }
    }
}

use Section::{Automation, Markets, Operators, Risk, Start, Trading};

/// Every command. The menu shows the non-operator ones in this order.
pub(crate) const TABLE: &[Spec] = &[
    // Start
    Spec::new("start", Start, "", "Welcome and first steps", |c, _| Box::pin(onboarding::start(c))).group(),
    Spec::new("help", Start, "[section]", "All commands", |c, a| Box::pin(help(c, a))).group(),
    Spec::new("bind", Start, "&lt;0x address&gt;", "Bind your Veranta wallet: /bind 0x…", |c, a| Box::pin(onboarding::bind(c, a))),
    Spec::new("verify", Start, "&lt;signature&gt;", "Prove your wallet: /verify 0x<signature>", |c, a| Box::pin(onboarding::verify(c, a))),
    Spec::new("wallet", Start, "", "Your wallet, delegate and mode", |c, _| Box::pin(onboarding::wallet(c))),
    Spec::new("balance", Start, "", "Equity and margin in use", |c, _| Box::pin(onboarding::balance(c))),
    // Markets
    Spec::new("markets", Markets, "", "Pairs, prices, max leverage, min size", |c, _| Box::pin(markets::markets(c))).group(),
    Spec::new("price", Markets, "&lt;pair&gt;", "Price of a pair: /price btc", |c, a| Box::pin(markets::price(c, a))).group(),
    // Trading
    Spec::new(
        "long",
        Trading,
        "&lt;pair&gt; &lt;collateral&gt; &lt;leverage&gt;x [tp=..] [sl=..] [slip=..]",
        "Open a long: /long btc 100 5x [tp=.. sl=..]",
        |c, a| Box::pin(trading::trade(c, Side::Long, a)),
    ),
    Spec::new(
        "short",
        Trading,
        "&lt;pair&gt; &lt;collateral&gt; &lt;leverage&gt;x [tp=..] [sl=..] [slip=..]",
        "Open a short: /short eth 50 10x",
        |c, a| Box::pin(trading::trade(c, Side::Short, a)),
    ),
    Spec::new("open", Trading, "", "Open a position step by step", |c, _| Box::pin(trading::open(c))),
    Spec::new("close", Trading, "[pair [long|short]|all]", "Close: /close [pair|all]", |c, a| Box::pin(trading::close(c, a))),
    Spec::new("positions", Trading, "", "Open positions with PnL and liquidation", |c, _| Box::pin(trading::positions(c))),
    Spec::new("tp", Trading, "&lt;pair&gt; [long|short] &lt;price&gt;", "Set take-profit: /tp btc 120000", |c, a| {
        Box::pin(trading::tpsl(c, true, a))
    }),
    Spec::new("sl", Trading, "&lt;pair&gt; [long|short] &lt;price&gt;", "Set stop-loss: /sl btc 95000", |c, a| {
        Box::pin(trading::tpsl(c, false, a))
    }),
    Spec::new("trail", Trading, "&lt;pair&gt; [long|short] &lt;percent|off&gt;", "Move the stop to a distance: /trail btc 2", |c, a| {
        Box::pin(trading::trail(c, a))
    }),
    Spec::new("orders", Trading, "", "TP/SL orders", |c, _| Box::pin(trading::orders(c))),
    Spec::new("history", Trading, "", "Recent trades and requests", |c, _| Box::pin(trading::history(c))),
    Spec::new("sync", Trading, "", "Read your wallet on Veranta now", |c, _| Box::pin(trading::sync(c))),
    Spec::new("pnl", Trading, "[day|week|month]", "PnL with a chart: /pnl [day|week|month]", |c, a| Box::pin(trading::pnl(c, a))),
    // Automation
    Spec::new("signals", Automation, "[new|rotate &lt;name&gt;]", "Signal sources: list, new, rotate", |c, a| {
        Box::pin(automation::sources(c, a))
    }),
    Spec::new("pause", Automation, "", "Pause your automation", |c, _| Box::pin(automation::pause(c, true))),
    Spec::new("resume", Automation, "", "Resume your automation", |c, _| Box::pin(automation::pause(c, false))),
    Spec::new("follow", Automation, "&lt;user id|0x…&gt; [key=value …]", "Copy a leader: /follow <id|0x…>", |c, a| {
        Box::pin(automation::follow(c, a))
    }),
    Spec::new("unfollow", Automation, "&lt;user id|0x…&gt;", "Stop copying a leader", |c, a| Box::pin(automation::unfollow(c, a))),
    Spec::new("following", Automation, "", "Leaders you copy", |c, _| Box::pin(automation::following(c))),
    Spec::new("copy", Automation, "[&lt;leader&gt; key=value …]", "Copy settings", |c, a| Box::pin(automation::copy_settings(c, a))),
    Spec::new("leader", Automation, "on|off", "Let others copy you: /leader on|off", |c, a| Box::pin(automation::leader(c, a))),
    // Risk
    Spec::new("risk", Risk, "", "Your risk limits", |c, _| Box::pin(risk::risk(c))),
    Spec::new("setrisk", Risk, "key=value …", "Change a limit: /setrisk max_leverage=10", |c, a| Box::pin(risk::setrisk(c, a))),
    // Operators
    Spec::new("status", Operators, "", "Mode, stop, queues and scheduled runs", |c, _| Box::pin(admin::status(c))).admin(),
    Spec::new("health", Operators, "", "Store, markets and counters", |c, _| Box::pin(admin::health(c))).admin(),
    Spec::new("exec", Operators, "DRY|LIVE", "Switch the exec mode (confirmed)", |c, a| Box::pin(admin::exec(c, a))).admin(),
    Spec::new("flatten_all", Operators, "", "Close every live position (confirmed)", |c, _| Box::pin(admin::flatten(c))).admin(),
    Spec::new("emergency_stop", Operators, "[flatten]", "Pull the emergency stop", |c, a| Box::pin(admin::emergency(c, true, a))).admin(),
    Spec::new("emergency_resume", Operators, "", "Release the emergency stop", |c, a| Box::pin(admin::emergency(c, false, a))).admin(),
];

/// The table row of a command name.
pub(crate) fn find(name: &str) -> Option<&'static Spec> {
    TABLE.iter().find(|c| c.name == name)
}

const MENU_LEN: usize = menu_len(TABLE);
const MENU: [(&str, &str); MENU_LEN] = menu(TABLE);

/// The command menu registered with `setMyCommands`: (name, description) of every command that
/// is not for operators, in table order.
pub const COMMANDS: &[(&str, &str)] = &MENU;

// Indexing is checked when the constants are evaluated: out of bounds would not compile.
#[allow(clippy::indexing_slicing)]
const fn menu_len(table: &[Spec]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < table.len() {
        if !table[i].admin {
            n += 1;
        }
        i += 1;
    }
    n
}

#[allow(clippy::indexing_slicing)]
const fn menu<const N: usize>(table: &[Spec]) -> [(&'static str, &'static str); N] {
    let mut out = [("", ""); N];
    let (mut i, mut j) = (0, 0);
    while i < table.len() {
        if !table[i].admin {
            out[j] = (table[i].name, table[i].about);
            j += 1;
        }
        i += 1;
    }
    out
}

pub(super) async fn run(ctx: &Ctx<'_>, cmd: &Command) -> DomainResult<()> {
    let spec = find(&cmd.name);
    if !ctx.private && !spec.is_some_and(|c| c.group) {
        ctx.reply("🔒 For your safety, Vanta acts on your account only in a private chat with the bot. Message me directly.").await;
        return Ok(());
    }
    let Some(spec) = spec else {
        ctx.reply(format!("Unknown command /{}.\n\n{}", esc(&cmd.name), help_text(ctx.is_admin()))).await;
        return Ok(());
    };
    let result = (spec.run)(ctx, &cmd.args).await;
    if let Err(e) = &result {
        let text = if e.is_retryable() {
            "⚠️ Temporarily unavailable; nothing was done. Please try again in a moment.".to_owned()
        } else {
            format!("⛔ {}", esc(&e.to_string()))
        };
        ctx.reply(text).await;
    }
    result
}

/// The overview: every command a user (and, for admins, an operator) has, by section.
pub(crate) fn help_text(admin: bool) -> String {
    let mut s = String::from("<b>Vanta commands</b>\n");
    for section in Section::ALL.into_iter().filter(|s| admin || *s != Operators) {
        let list: Vec<String> = TABLE.iter().filter(|c| c.section == section).map(Spec::usage).collect();
        s.push_str(&format!("<b>{}</b>: {}\n", section.title(), list.join(" · ")));
        if let Some(note) = section.note() {
            s.push_str(note);
            s.push('\n');
        }
    }
    s.push_str("Every trade asks for a confirmation first. <code>/help trading</code> (or start, markets, automation, risk) explains each command.");
    s
}

/// One section in full: each command with its description.
pub(crate) fn section_text(section: Section) -> String {
    let mut s = format!("<b>{}</b>\n", section.title());
    for c in TABLE.iter().filter(|c| c.section == section) {
        s.push_str(&format!("{} — {}\n", c.usage(), esc(c.about)));
    }
    s.push_str("/help lists every section.");
    s
}

async fn help(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let text = match args.first().and_then(|a| Section::parse(a)) {
        Some(Operators) if !ctx.is_admin() => help_text(false),
        Some(section) => section_text(section),
        None => help_text(ctx.is_admin()),
    };
    ctx.reply(text).await;
    Ok(())
}
