//! Identifiers: Telegram users and chats, trader addresses, intents and signal sources, and the
//! derivations every handler shares: the account a user trades ([`trading_account`]), stable
//! derived references ([`derived_id`], [`position_id`]) and request fingerprints
//! ([`payload_hash`]).

use std::fmt;
use std::str::FromStr;

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::DomainError;
use crate::user::User;

/// A Telegram user id: the only identity Vanta authorises by (never a chat id or a name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TelegramUserId(pub i64);

impl fmt::Display for TelegramUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for TelegramUserId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .map(Self)
            .ok_or_else(|| DomainError::Invalid(format!("'{}' is not a Telegram user id", s.trim())))
    }
}

/// A Telegram chat id (private chats equal the user id; groups are negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChatId(pub i64);

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A trader's wallet address on Base. Parsing refuses the zero address and a mixed-case address
/// whose EIP-55 checksum is wrong (a typo in one letter must not bind someone else's wallet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraderAddress(Address);

impl TraderAddress {
    pub fn new(a: Address) -> Result<Self, DomainError> {
        if a.is_zero() {
            return Err(DomainError::Invalid("the zero address cannot trade".into()));
        }
        Ok(Self(a))
    }
    pub fn address(&self) -> Address {
        self.0
    }
    /// A stable stand-in account from 20 seed bytes (paper trading without a bound wallet);
    /// never the zero address.
    pub fn paper(mut seed: [u8; 20]) -> Self {
        seed[0] |= 1;
        Self(Address::from(seed))
    }
    /// Lower-case hex, the form used in storage keys.
    pub fn key(&self) -> String {
        format!("{:#x}", self.0)
    }
}

impl FromStr for TraderAddress {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = |why: &str| DomainError::Invalid(format!("'{t}' is not a valid address: {why}"));
        let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).ok_or_else(|| bad("it must start with 0x"))?;
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("it must be 40 hex digits after 0x"));
        }
        let mixed = hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase());
        let addr = if mixed {
            Address::parse_checksummed(format!("0x{hex}"), None).map_err(|_| bad("the checksum does not match (check for a typo)"))?
        } else {
            Address::from_str(&format!("0x{}", hex.to_ascii_lowercase())).map_err(|_| bad("unreadable"))?
        };
        Self::new(addr)
    }
}

impl TryFrom<String> for TraderAddress {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TraderAddress> for String {
    fn from(a: TraderAddress) -> String {
        a.0.to_checksum(None)
    }
}

impl fmt::Display for TraderAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_checksum(None))
    }
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $max:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Letters, digits and `-_.:` only, 1 to
            #[doc = stringify!($max)]
            /// characters.
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                let ok = !s.is_empty()
                    && s.len() <= $max
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(DomainError::Invalid(format!(
                        concat!($what, " must be 1-{} characters of letters, digits, '-', '_', '.', ':'"),
                        $max
                    )))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// `<prefix>:<hex of digest>`, at most 40 hex digits: always a valid id. The prefix
            /// keeps only letters and digits.
            pub fn derived(prefix: &str, digest: &[u8]) -> Self {
                let p: String = prefix.chars().filter(|c| c.is_ascii_alphanumeric()).take(16).collect();
                let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
                Self(format!("{p}:{hex}"))
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// A signal source's name, chosen by its owner (`my-strategy`).
    SourceId, 64, "a source id"
);
text_id!(
    /// The id a signal carries (`alert-42`); with the source it is the idempotency key.
    SignalId, 128, "a signal id"
);
text_id!(
    /// Vanta's id of an intent: the idempotency key that every retry of the same request shares.
    IntentId, 256, "an intent id"
);
text_id!(
    /// Vanta's id of a position.
    PositionId, 200, "a position id"
);

// ---------------------------------------------------------------------------------------------
// Derivations
// ---------------------------------------------------------------------------------------------

/// The account a user trades: the bound address, or (DRY only) a stable paper address.
pub fn trading_account(user: &User) -> TraderAddress {
    if let Some(t) = user.trader {
        return t;
    }
    let h = Sha256::digest(format!("vanta-paper-account:{}", user.id).as_bytes());
    let mut seed = [0u8; 20];
    seed.copy_from_slice(h.get(..20).unwrap_or(&[1u8; 20]));
    TraderAddress::paper(seed)
}

/// A stable venue reference made of parts (fits [`IntentId`]'s alphabet and length).
pub fn derived_id(prefix: &str, parts: &[&str]) -> IntentId {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    IntentId::derived(prefix, &h.finalize())
}

/// The position an open intent creates.
pub fn position_id(intent: &IntentId) -> PositionId {
    PositionId::derived("pos", &Sha256::digest([intent.as_str().as_bytes(), &[0u8]].concat()))
}

/// SHA-256 hex of a request's canonical bytes: what tells a retry of an intent (the same hash)
/// from a conflicting reuse of its id.
pub fn payload_hash(canonical: &[u8]) -> String {
    alloy_primitives::hex::encode(Sha256::digest(canonical))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn derivations_are_stable() {
        // Stored ids depend on these: they must never change.
        let user = User::new(TelegramUserId(7), ChatId(7), Timestamp(0));
        assert_eq!(trading_account(&user), trading_account(&user));
        assert_ne!(trading_account(&user), trading_account(&User::new(TelegramUserId(8), ChatId(8), Timestamp(0))));
        let bound: TraderAddress = "0x00000000000000000000000000000000000000aa".parse().unwrap();
        assert_eq!(trading_account(&User { trader: Some(bound), ..user }), bound);
        let id = derived_id("leg", &["a", "b"]);
        assert!(id.as_str().starts_with("leg:") && id.as_str().len() == 44, "{id}");
        assert_ne!(id, derived_id("leg", &["ab", ""]), "parts are separated");
        assert!(position_id(&IntentId::parse("sig:s:1").unwrap()).as_str().starts_with("pos:"));
        assert_eq!(payload_hash(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
