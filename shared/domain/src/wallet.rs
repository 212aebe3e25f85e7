//! Proof of wallet ownership. `/bind` issues a Sign-In with Ethereum challenge (EIP-4361, signed
//! with `personal_sign`, i.e. EIP-191); the binding becomes *verified* once a signature over the
//! exact message is shown to come from the address (ecrecover for an EOA, EIP-1271
//! `isValidSignature` for a contract wallet). Pure: message text, parsing and recovery only.

use std::time::Duration;

use alloy_primitives::{Address, B256, Signature, eip191_hash_message};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::ids::{TelegramUserId, TraderAddress};
use crate::time::Timestamp;

/// How long a challenge can be signed.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(600);
/// Nonce length Vanta issues: 128 random bits as hex (EIP-4361 asks for at least 8 alphanumeric
/// characters).
pub const NONCE_LEN: usize = 32;
/// Longest signature accepted (a contract wallet's may be longer than 65 bytes).
pub const MAX_SIGNATURE_BYTES: usize = 2048;
/// The domain shown when no public URL is configured (`.invalid` can never resolve).
pub const PLACEHOLDER_DOMAIN: &str = "vanta.invalid";
/// EIP-1271's magic value: `isValidSignature(bytes32,bytes)`'s selector.
pub const EIP1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// Where the challenge says it comes from: the public site's host and URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweSite {
    /// RFC 3986 authority (host and optional port), e.g. `abc.execute-api.us-east-1.amazonaws.com`.
    pub domain: String,
    /// The site's base URL, e.g. `https://abc.execute-api.us-east-1.amazonaws.com`.
    pub uri: String,
    /// False when built from the placeholder: there is no page to link to.
    pub configured: bool,
}

impl SiweSite {
    /// From `PUBLIC_BASE_URL` (an http(s) URL); a clear placeholder without one.
    pub fn from_base_url(base: Option<&str>) -> Self {
        let parsed = base.map(|b| b.trim().trim_end_matches('/')).and_then(|b| {
            let rest = b.strip_prefix("https://").or_else(|| b.strip_prefix("http://"))?;
            let authority = rest.split(['/', '?', '#']).next().filter(|a| !a.is_empty() && !a.contains('@'))?;
            Some((authority.to_owned(), b.to_owned()))
        });
        match parsed {
            Some((domain, uri)) => Self { domain, uri, configured: true },
            None => Self { domain: PLACEHOLDER_DOMAIN.to_owned(), uri: format!("https://{PLACEHOLDER_DOMAIN}"), configured: false },
        }
    }

    /// The signing page of a challenge, when the site is configured.
    pub fn link(&self, nonce: &str) -> Option<String> {
        self.configured.then(|| format!("{}/link/{nonce}", self.uri))
    }
}

/// A pending proof: who asked to bind which address, and the exact text to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletChallenge {
    pub nonce: String,
    pub user: TelegramUserId,
    pub address: TraderAddress,
    /// The EIP-4361 message, exactly as it must be signed.
    pub message: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// Set once, when a signature over it bound the address.
    pub used: bool,
}

/// Where a challenge stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeState {
    Open,
    Expired,
    Used,
}

impl WalletChallenge {
    /// A new challenge issued at `now` (times in the message are whole seconds; the expiry
    /// enforced is the one the message states).
    pub fn new(
        nonce: &str,
        user: TelegramUserId,
        address: TraderAddress,
        site: &SiweSite,
        chain_id: u64,
        now: Timestamp,
    ) -> DomainResult<Self> {
        if !valid_nonce(nonce) {
            return Err(DomainError::Invalid("a challenge nonce is 8 to 64 letters and digits".into()));
        }
        let issued_at = Timestamp::from_secs(now.secs());
        let expires_at = issued_at.plus(CHALLENGE_TTL);
        let message = siwe_message(&SiweFields {
            domain: &site.domain,
            address,
            statement: &statement(user),
            uri: &site.uri,
            chain_id,
            nonce,
            issued_at,
            expires_at,
        });
        Ok(Self { nonce: nonce.to_owned(), user, address, message, issued_at, expires_at, used: false })
    }

    pub fn state_at(&self, now: Timestamp) -> ChallengeState {
        if self.used {
            ChallengeState::Used
        } else if now >= self.expires_at {
            ChallengeState::Expired
        } else {
            ChallengeState::Open
        }
    }

    /// The EIP-191 digest a `personal_sign` signature covers.
    pub fn digest(&self) -> B256 {
        eip191_hash_message(self.message.as_bytes())
    }
}

/// The statement of Vanta's challenge: names Vanta and the Telegram user id (EIP-4361 allows no
/// line break in it).
pub fn statement(user: TelegramUserId) -> String {
    format!(
        "Link this wallet to Vanta for Telegram user {user}. Vanta trades only through the delegate you register with Veranta; it can never withdraw."
    )
}

/// The fields of an EIP-4361 message Vanta fills in.
#[derive(Debug, Clone)]
pub struct SiweFields<'a> {
    pub domain: &'a str,
    pub address: TraderAddress,
    pub statement: &'a str,
    pub uri: &'a str,
    pub chain_id: u64,
    pub nonce: &'a str,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The message text, line by line as EIP-4361 defines it (address in EIP-55 checksum form).
pub fn siwe_message(f: &SiweFields<'_>) -> String {
    format!(
        "{domain} wants you to sign in with your Ethereum account:\n{address}\n\n{statement}\n\nURI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued}\nExpiration Time: {expires}",
        domain = f.domain,
        address = f.address,
        statement = f.statement,
        uri = f.uri,
        chain = f.chain_id,
        nonce = f.nonce,
        issued = rfc3339(f.issued_at),
        expires = rfc3339(f.expires_at),
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds).
pub fn rfc3339(t: Timestamp) -> String {
    let (year, month, day, h, m, sec) = t.civil();
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z")
}

/// 8 to 64 ASCII letters and digits.
pub fn valid_nonce(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A signature as pasted or posted: `0x` and hex, 1 to [`MAX_SIGNATURE_BYTES`] bytes.
pub fn parse_signature(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).ok_or("the signature must start with 0x")?;
    if hex.is_empty() || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the signature must be an even number of hex digits after 0x (65 bytes = 130 digits)".into());
    }
    if hex.len() / 2 > MAX_SIGNATURE_BYTES {
        return Err(format!("the signature is longer than {MAX_SIGNATURE_BYTES} bytes"));
    }
    let bytes: Result<Vec<u8>, _> =
        (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).ok_or(()).and_then(|p| u8::from_str_radix(p, 16).map_err(|_| ()))).collect();
    bytes.map_err(|()| "the signature is not hex".to_owned())
}

/// The EOA that produced a 65-byte `personal_sign` signature over `message` (v = 27/28 or 0/1);
/// None when the bytes are no such signature.
pub fn recover_signer(message: &str, sig: &[u8]) -> Option<Address> {
    let sig = Signature::from_raw(sig).ok()?;
    sig.recover_address_from_msg(message.as_bytes()).ok()
}

/// Who holds the claim on an address, and whether they proved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressClaim {
    pub owner: TelegramUserId,
    pub verified: bool,
}
