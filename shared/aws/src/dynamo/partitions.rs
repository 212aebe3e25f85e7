//! Every partition key the adapters write, as the patterns IAM conditions use
//! (`dynamodb:LeadingKeys` with `StringLike`: `*` stands for any rest). `template.yaml` grants each
//! function DynamoDB actions on these patterns only; a test compares the two lists, and another
//! writes through every adapter and checks that each stored item's keys match a pattern here. A
//! new partition in the code therefore fails the tests until it is listed here and granted.

/// Partition keys (`pk`) of the table's items.
pub const TABLE: &[&str] = &[
    "ADDR#*",       // address claims
    "CHALLENGE#*",  // wallet challenges
    "CONTROL",      // exec control and stored limits: written by the bot and the operator only
    "IDEM#*",       // idempotency records
    "INTENT#*",     // intents and their audit entries
    "JOBS",         // heartbeats, the FLATTEN run, the trigger pair set and backfill marker
    "MARK#*",       // seen-once markers
    "MARKET",       // the pair catalog
    "NONCE#*",      // direct route: nonce counter, leases, given-back nonces
    "PAPER#*",      // DRY paper accounts
    "PAPER_FILL#*", // DRY paper fills
    "RECON",        // the reconciler's per-wallet records
    "SOURCE#*",     // signal sources
    "TRAILBOOK#*",  // trailing-stop books
    "TX#*",         // direct route: transaction records and attempts
    "USER#*",       // profiles, positions, trigger entries, follows
    "WINDOW#*",     // rate windows
];

/// Partition keys of index `gsi1` (`gsi1pk`).
pub const GSI1: &[&str] = &[
    "CLOSING",     // positions while CLOSING
    "LEADER#*",    // a leader's followers
    "TRIG#*",      // the trigger index
    "USER#*",      // a user's intents, sources and challenges
    "WALLET_USER", // profiles with a bound wallet (the delegation-expiry scan)
];

/// Partition keys of index `gsi2` (`gsi2pk`).
pub const GSI2: &[&str] = &[
    "ADDR#*",      // a user by bound address
    "LIVE_POS",    // open and closing positions
    "OPEN_INTENT", // intents whose outcome is unknown (SUBMITTED, AMBIGUOUS)
    "TVTOKEN#*",   // a source by TradingView token hash
];

/// Whether `key` matches an IAM `StringLike` pattern (`*` any run of characters, `?` one).
pub fn matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[char], k: &[char]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some(('*', rest)) => (0..=k.len()).any(|i| k.get(i..).is_some_and(|tail| go(rest, tail))),
            Some(('?', rest)) => k.split_first().is_some_and(|(_, tail)| go(rest, tail)),
            Some((c, rest)) => k.split_first().is_some_and(|(h, tail)| h == c && go(rest, tail)),
        }
    }
    let (p, k): (Vec<char>, Vec<char>) = (pattern.chars().collect(), key.chars().collect());
    go(&p, &k)
}

/// The pattern of `patterns` that `key` matches, if any.
pub fn pattern_of<'a>(patterns: &[&'a str], key: &str) -> Option<&'a str> {
    patterns.iter().copied().find(|p| matches(p, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::keys as k;
    use vanta_domain::ids::{IntentId, SourceId, TelegramUserId};
    use vanta_domain::user::LeaderRef;

    #[test]
    fn glob_matching_is_iam_string_like() {
        assert!(matches("USER#*", "USER#12"));
        assert!(matches("USER#*", "USER#"));
        assert!(!matches("USER#*", "USERS#1"));
        assert!(matches("CONTROL", "CONTROL"));
        assert!(!matches("CONTROL", "CONTROLS"));
        assert!(!matches("MARK#*", "MARKET"));
        assert!(!matches("PAPER#*", "PAPER_FILL#x"));
        assert!(matches("A?C", "ABC") && !matches("A?C", "AC"));
    }

    #[test]
    fn each_key_builder_lands_in_one_listed_partition() {
        let user = TelegramUserId(7);
        let table = [
            k::user(user),
            k::idem(&IntentId::derived("i", b"1")),
            k::intent(&IntentId::derived("i", b"1")),
            k::source(&SourceId::derived("s", b"1")),
            k::challenge("n"),
            k::marker("m"),
            k::window("w"),
            k::CONTROL.to_owned(),
            k::JOBS.to_owned(),
        ];
        for key in &table {
            let hits = TABLE.iter().filter(|p| matches(p, key)).count();
            assert_eq!(hits, 1, "{key} matches exactly one table pattern");
        }
        for key in [k::user(user), k::leader(&LeaderRef::User(user)), k::CLOSING.to_owned()] {
            assert!(pattern_of(GSI1, &key).is_some(), "{key} is a gsi1 partition");
        }
        for key in [k::tv_token("ab"), k::LIVE_POS.to_owned()] {
            assert!(pattern_of(GSI2, &key).is_some(), "{key} is a gsi2 partition");
        }
    }
}
