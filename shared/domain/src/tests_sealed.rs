#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Envelope encryption of source secrets: seal/open round trips, and every tampering refused
//! (an error, never a panic, never the secret).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::DomainError;
use crate::DomainResult;
use crate::ids::SourceId;
use crate::sealed::{
    CachePolicy, DataKey, ENVELOPE_V1, Envelope, KeyWrap, LocalDevKeyWrap, NoSourceSecrets, PlainKey, SealedSecret, SourceSecret,
    SourceSecrets, local_dev, reveal,
};
use crate::time::{ManualClock, Timestamp};
use crate::user::{SecretText, SignalSource};

fn sid(s: &str) -> SourceId {
    SourceId::parse(s).unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp(1_000_000)))
}

/// The local key, counting unwraps (to see the cache work).
#[derive(Default)]
struct Counting {
    inner: LocalDevKeyWrap,
    unwraps: Arc<AtomicUsize>,
}

#[async_trait]
impl KeyWrap for Counting {
    async fn generate(&self, source: &SourceId) -> DomainResult<DataKey> {
        self.inner.generate(source).await
    }
    async fn unwrap(&self, source: &SourceId, wrapped: &[u8]) -> DomainResult<PlainKey> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap(source, wrapped).await
    }
    fn kind(&self) -> &'static str {
        "counting"
    }
}

fn refused<T: std::fmt::Debug>(r: DomainResult<T>) {
    assert!(matches!(r, Err(DomainError::Forbidden(_))), "expected a refusal, got {r:?}");
}

#[tokio::test]
async fn seal_then_open_returns_the_secret_and_the_ciphertext_is_not_the_secret() {
    let env = local_dev(clock());
    let secret = SecretText::new("s3cr3t-hmac-key-0123456789");
    let sealed = env.seal(&sid("alpha"), &secret).await.unwrap();
    assert_eq!(sealed.version, ENVELOPE_V1);
    assert_eq!(sealed.nonce.len(), 12);
    assert_eq!(sealed.ciphertext.len(), secret.expose().len() + 16, "ciphertext plus the GCM tag");
    assert!(!sealed.ciphertext.windows(6).any(|w| w == b"s3cr3t"), "no plain text in the ciphertext");
    assert!(!format!("{sealed:?}").contains("s3cr3t"));
    assert_eq!(env.open(&sid("alpha"), &sealed).await.unwrap(), secret);

    // A fresh data key and nonce every time: the same secret seals differently.
    let again = env.seal(&sid("alpha"), &secret).await.unwrap();
    assert_ne!(again.wrapped_key, sealed.wrapped_key);
    assert_ne!(again.nonce, sealed.nonce);
    assert_ne!(again.ciphertext, sealed.ciphertext);
}

#[tokio::test]
async fn tampering_with_any_part_is_refused() {
    let env = Envelope::with_policy(LocalDevKeyWrap::default(), clock(), CachePolicy { ttl_ms: 0, max_entries: 0 });
    let id = sid("alpha");
    let sealed = env.seal(&id, &SecretText::new("hmac-key")).await.unwrap();

    let mut ct = sealed.clone();
    ct.ciphertext[0] ^= 1;
    refused(env.open(&id, &ct).await);
    let mut short = sealed.clone();
    short.ciphertext.truncate(3);
    refused(env.open(&id, &short).await);

    let mut nonce = sealed.clone();
    nonce.nonce[5] ^= 0x80;
    refused(env.open(&id, &nonce).await);
    let mut no_nonce = sealed.clone();
    no_nonce.nonce.clear();
    refused(env.open(&id, &no_nonce).await);

    let mut dk = sealed.clone();
    let last = dk.wrapped_key.len() - 1;
    dk.wrapped_key[last] ^= 1;
    refused(env.open(&id, &dk).await);
    let mut no_dk = sealed.clone();
    no_dk.wrapped_key.truncate(4);
    refused(env.open(&id, &no_dk).await);

    let mut version = sealed.clone();
    version.version = 2;
    refused(env.open(&id, &version).await);

    // Moved to another source: the context differs, so neither the key nor the secret opens.
    refused(env.open(&sid("beta"), &sealed).await);

    // Another source's data key with this ciphertext: refused too.
    let other = env.seal(&id, &SecretText::new("other")).await.unwrap();
    refused(env.open(&id, &SealedSecret { wrapped_key: other.wrapped_key, ..sealed.clone() }).await);

    // Garbage of every length never panics.
    for n in [0usize, 1, 11, 12, 13, 28, 44, 60, 61, 200] {
        let junk = SealedSecret { version: ENVELOPE_V1, ciphertext: vec![7; n], nonce: vec![1; n.min(12)], wrapped_key: vec![9; n] };
        refused(env.open(&id, &junk).await);
    }
    assert_eq!(env.open(&id, &sealed).await.unwrap().expose(), "hmac-key", "the genuine one still opens");
}

#[tokio::test]
async fn a_cached_key_does_not_open_a_tampered_or_moved_secret() {
    let env = local_dev(clock());
    let id = sid("alpha");
    let sealed = env.seal(&id, &SecretText::new("hmac-key")).await.unwrap();
    env.open(&id, &sealed).await.unwrap(); // the key is cached now
    assert_eq!(env.cached_keys(), 1);
    refused(env.open(&sid("beta"), &sealed).await);
    let mut ct = sealed.clone();
    ct.ciphertext[2] ^= 4;
    refused(env.open(&id, &ct).await);
}

#[tokio::test]
async fn unwrapped_keys_are_cached_for_five_minutes_and_bounded() {
    let clock = clock();
    let counting = Counting::default();
    let unwraps = counting.unwraps.clone();
    let env = Envelope::with_policy(counting, clock.clone(), CachePolicy { ttl_ms: 300_000, max_entries: 2 });
    let a = env.seal(&sid("a"), &SecretText::new("ka")).await.unwrap();
    for _ in 0..5 {
        assert_eq!(env.open(&sid("a"), &a).await.unwrap().expose(), "ka");
    }
    assert_eq!(unwraps.load(Ordering::SeqCst), 1, "one unwrap for five opens");
    clock.advance(Duration::from_secs(299));
    env.open(&sid("a"), &a).await.unwrap();
    assert_eq!(unwraps.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(2));
    env.open(&sid("a"), &a).await.unwrap();
    assert_eq!(unwraps.load(Ordering::SeqCst), 2, "expired after five minutes");

    let b = env.seal(&sid("b"), &SecretText::new("kb")).await.unwrap();
    let c = env.seal(&sid("c"), &SecretText::new("kc")).await.unwrap();
    clock.advance(Duration::from_secs(1));
    env.open(&sid("b"), &b).await.unwrap();
    clock.advance(Duration::from_secs(1));
    env.open(&sid("c"), &c).await.unwrap();
    assert_eq!(env.cached_keys(), 2, "never more than the bound");
    assert_eq!(unwraps.load(Ordering::SeqCst), 4);
    env.open(&sid("c"), &c).await.unwrap();
    env.open(&sid("b"), &b).await.unwrap();
    assert_eq!(unwraps.load(Ordering::SeqCst), 4, "the two newest are kept");
    env.open(&sid("a"), &a).await.unwrap();
    assert_eq!(unwraps.load(Ordering::SeqCst), 5, "the oldest was evicted");
}

#[tokio::test]
async fn without_a_key_nothing_is_sealed_or_opened() {
    let none = NoSourceSecrets;
    let r = none.seal(&sid("a"), &SecretText::new("x")).await;
    assert!(matches!(&r, Err(DomainError::Unavailable(m)) if m.contains("SOURCE_SECRETS_KEY_ID")), "{r:?}");
    let sealed = local_dev(clock()).seal(&sid("a"), &SecretText::new("x")).await.unwrap();
    assert!(matches!(none.open(&sid("a"), &sealed).await, Err(DomainError::Unavailable(_))));
}

#[tokio::test]
async fn reveal_opens_sealed_secrets_and_passes_legacy_plain_ones() {
    let env = local_dev(clock());
    let mut src = SignalSource {
        id: sid("legacy"),
        owner: crate::ids::TelegramUserId(1),
        secret: SourceSecret::Plain(SecretText::new("old-plain")),
        tv_token_hash: "h".into(),
        active: true,
        created_at: Timestamp(1),
        rotated_at: None,
    };
    assert_eq!(reveal(&env, &src).await.unwrap().expose(), "old-plain");
    assert_eq!(reveal(&NoSourceSecrets, &src).await.unwrap().expose(), "old-plain", "legacy secrets need no key");
    src.secret = env.seal(&src.id, &SecretText::new("new-sealed")).await.unwrap().into();
    assert!(src.secret.is_sealed());
    assert_eq!(reveal(&env, &src).await.unwrap().expose(), "new-sealed");
    assert!(reveal(&NoSourceSecrets, &src).await.is_err());
}
