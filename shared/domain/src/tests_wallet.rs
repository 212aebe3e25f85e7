//! Wallet proofs: the EIP-4361 message text, signature parsing and recovery, and the in-memory
//! store's binding rules (the DynamoDB twin runs the same checks in `tests/it/wallet.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::str::FromStr;

use k256::ecdsa::SigningKey;

use crate::DomainError;
use crate::ids::{ChatId, TelegramUserId, TraderAddress};
use crate::memory::MemoryStore;
use crate::ports::UserStore;
use crate::time::Timestamp;
use crate::user::User;
use crate::wallet::*;

/// A key, its address, and `personal_sign` over a message (r ‖ s ‖ v with v = 27/28).
pub(crate) struct Key(SigningKey);

impl Key {
    pub fn new(seed: u8) -> Self {
        Self(SigningKey::from_slice(&[seed; 32]).unwrap())
    }
    pub fn address(&self) -> TraderAddress {
        let point = self.0.verifying_key().to_encoded_point(false);
        TraderAddress::new(alloy_primitives::Address::from_raw_public_key(&point.as_bytes()[1..])).unwrap()
    }
    pub fn personal_sign(&self, message: &str) -> Vec<u8> {
        let digest = alloy_primitives::eip191_hash_message(message.as_bytes());
        let (sig, rec) = self.0.sign_prehash_recoverable(digest.as_slice()).unwrap();
        let mut out = sig.to_bytes().to_vec();
        out.push(27 + rec.to_byte());
        out
    }
}

fn hex0x(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

const T0: i64 = 1_795_852_800_123; // 2026-11-28T08:00:00.123Z

fn site() -> SiweSite {
    SiweSite::from_base_url(Some("https://abc123.execute-api.us-east-1.amazonaws.com/"))
}

#[test]
fn the_message_is_eip4361_line_for_line() {
    let address = TraderAddress::from_str("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").unwrap();
    let c = WalletChallenge::new("AbCdEfGh12345678ZyXw9876", TelegramUserId(4242), address, &site(), 8453, Timestamp(T0)).unwrap();
    let expected = "abc123.execute-api.us-east-1.amazonaws.com wants you to sign in with your Ethereum account:\n\
        0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n\
        \n\
        Link this wallet to Vanta for Telegram user 4242. Vanta trades only through the delegate you register with Veranta; it can never withdraw.\n\
        \n\
        URI: https://abc123.execute-api.us-east-1.amazonaws.com\n\
        Version: 1\n\
        Chain ID: 8453\n\
        Nonce: AbCdEfGh12345678ZyXw9876\n\
        Issued At: 2026-11-28T08:00:00Z\n\
        Expiration Time: 2026-11-28T08:10:00Z";
    assert_eq!(c.message, expected);
    assert_eq!(c.issued_at, Timestamp(1_795_852_800_000), "whole seconds, as the message says");
    assert_eq!(c.expires_at.since(c.issued_at), 600_000, "ten minutes");
    assert_eq!(c.state_at(Timestamp(T0)), ChallengeState::Open);
    assert_eq!(c.state_at(c.expires_at), ChallengeState::Expired);
    assert!(WalletChallenge::new("short", TelegramUserId(1), address, &site(), 8453, Timestamp(T0)).is_err());
    assert!(WalletChallenge::new("has space 12345678", TelegramUserId(1), address, &site(), 8453, Timestamp(T0)).is_err());
}

#[test]
fn the_site_falls_back_to_a_placeholder_without_a_link() {
    let none = SiweSite::from_base_url(None);
    assert_eq!((none.domain.as_str(), none.configured), (PLACEHOLDER_DOMAIN, false));
    assert_eq!(none.link("n"), None);
    assert!(!SiweSite::from_base_url(Some("ftp://x")).configured);
    assert!(!SiweSite::from_base_url(Some("https://user@host")).configured);
    let s = SiweSite::from_base_url(Some("http://127.0.0.1:8080/"));
    assert_eq!((s.domain.as_str(), s.uri.as_str()), ("127.0.0.1:8080", "http://127.0.0.1:8080"));
    assert_eq!(s.link("abc").as_deref(), Some("http://127.0.0.1:8080/link/abc"));
}

#[test]
fn rfc3339_dates() {
    assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(Timestamp::from_secs(951_782_400 + 3_661)), "2000-02-29T01:01:01Z");
}

#[test]
fn signatures_parse_and_recover_to_their_key() {
    let key = Key::new(7);
    let other = Key::new(8);
    let msg = "hello vanta";
    let sig = key.personal_sign(msg);
    assert_eq!(sig.len(), 65);
    let parsed = parse_signature(&hex0x(&sig)).unwrap();
    assert_eq!(parsed, sig);
    assert_eq!(recover_signer(msg, &parsed), Some(key.address().address()));
    assert_ne!(recover_signer(msg, &other.personal_sign(msg)), Some(key.address().address()));
    assert_ne!(recover_signer("hello vanta!", &sig), Some(key.address().address()), "another message recovers someone else");
    // v as 0/1 (some wallets) works too.
    let mut v01 = sig.clone();
    v01[64] -= 27;
    assert_eq!(recover_signer(msg, &v01), Some(key.address().address()));
    assert_eq!(recover_signer(msg, &sig[..64]), None);
    for bad in ["", "0x", "abcd", "0x123", "0xzz", "0x  "] {
        assert!(parse_signature(bad).is_err(), "{bad}");
    }
    assert!(parse_signature(&format!("0x{}", "ab".repeat(MAX_SIGNATURE_BYTES + 1))).is_err());
}

fn user(n: i64) -> User {
    User::new(TelegramUserId(n), ChatId(n), Timestamp(1))
}

#[tokio::test]
async fn memory_verify_binding_rules() {
    let s = MemoryStore::new();
    for n in [1, 2] {
        s.get_or_create_user(user(n)).await.unwrap();
    }
    let a = Key::new(1).address();
    let now = Timestamp(T0);
    // User 2 holds an unverified (legacy) claim on a; user 1 proves it and wins.
    s.bind_address(TelegramUserId(2), a).await.unwrap();
    let c = WalletChallenge::new("nonce0000000000000000001", TelegramUserId(1), a, &site(), 8453, now).unwrap();
    s.put_challenge(&c).await.unwrap();
    assert!(matches!(s.put_challenge(&c).await, Err(DomainError::Conflict(_))));
    assert!(matches!(s.verify_binding(&c.nonce, TelegramUserId(2), now).await, Err(DomainError::Forbidden(_))));
    let u1 = s.verify_binding(&c.nonce, TelegramUserId(1), now).await.unwrap();
    assert!(u1.wallet_verified() && u1.trader == Some(a));
    assert_eq!(s.get_user(TelegramUserId(2)).await.unwrap().unwrap().trader, None, "the unproved binding gave way");
    assert_eq!(s.address_claim(a).await.unwrap(), Some(AddressClaim { owner: TelegramUserId(1), verified: true }));
    assert!(matches!(s.verify_binding(&c.nonce, TelegramUserId(1), now).await, Err(DomainError::Conflict(_))), "single use");
    // Now nobody else can take it, proved or not.
    assert!(matches!(s.bind_address(TelegramUserId(2), a).await, Err(DomainError::Conflict(_))));
    let c2 = WalletChallenge::new("nonce0000000000000000002", TelegramUserId(2), a, &site(), 8453, now).unwrap();
    s.put_challenge(&c2).await.unwrap();
    assert!(matches!(s.verify_binding(&c2.nonce, TelegramUserId(2), now).await, Err(DomainError::Conflict(_))));
    // update_user never changes the binding or its proof.
    let mut edit = u1.clone();
    edit.trader_verified_at = None;
    edit.leader_opt_in = true;
    s.update_user(&edit).await.unwrap();
    let stored = s.get_user(TelegramUserId(1)).await.unwrap().unwrap();
    assert!(stored.wallet_verified() && stored.leader_opt_in);
    // An expired challenge is refused.
    let b = Key::new(2).address();
    let c3 = WalletChallenge::new("nonce0000000000000000003", TelegramUserId(1), b, &site(), 8453, now).unwrap();
    s.put_challenge(&c3).await.unwrap();
    assert!(matches!(s.verify_binding(&c3.nonce, TelegramUserId(1), c3.expires_at).await, Err(DomainError::Conflict(_))));
    assert_eq!(s.get_user(TelegramUserId(1)).await.unwrap().unwrap().trader, Some(a), "nothing changed");
    assert_eq!(s.user_challenges(TelegramUserId(1), 10).await.unwrap().len(), 2);
}
