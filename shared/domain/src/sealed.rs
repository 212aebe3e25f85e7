//! Signal-source secrets under envelope encryption.
//!
//! Each source's HMAC secret is sealed with AES-256-GCM under a data key of its own; the data
//! key is stored only wrapped by a master key ([`KeyWrap`]: AWS KMS under Lambda, a dev-only local
//! key for `make run` and tests). Both the wrapping and the sealing are bound to the source id
//! (the encryption context `{"source": <id>}`), so a sealed secret copied onto another source
//! does not open.
//!
//! [`SourceSecrets`] is the port the handlers use: the bot seals new and rotated secrets, the
//! webhook opens them to check a signature. [`Envelope`] implements it over any [`KeyWrap`] and
//! keeps unwrapped data keys for a bounded time per warm instance; [`NoSourceSecrets`] refuses
//! both (a deployment without a key never stores or trusts a secret it cannot protect).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::error::{DomainError, DomainResult};
use crate::ids::SourceId;
use crate::time::{Clock, Timestamp};
use crate::user::{SecretText, SignalSource};

/// The envelope format this code writes (`enc_v` in the table).
pub const ENVELOPE_V1: u32 = 1;
/// AES-GCM nonces are 96 bits.
pub const NONCE_LEN: usize = 12;
/// Data keys are 256 bits (KMS `AES_256`).
pub const DATA_KEY_LEN: usize = 32;

/// A plain data key; zeroed when dropped.
pub type PlainKey = Zeroizing<[u8; DATA_KEY_LEN]>;

/// A sealed secret as stored: the ciphertext, its nonce, the wrapped data key and the format
/// version. None of it is secret on its own; `Debug` shows sizes only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub version: u32,
    /// AES-256-GCM ciphertext of the secret, tag included.
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    /// The data key, wrapped by the master key (a KMS ciphertext blob under Lambda).
    pub wrapped_key: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedSecret(v{}, {} B ciphertext, {} B nonce, {} B wrapped key)",
            self.version,
            self.ciphertext.len(),
            self.nonce.len(),
            self.wrapped_key.len()
        )
    }
}

/// A source's secret as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSecret {
    /// Envelope-encrypted: what every new or rotated source holds.
    Sealed(SealedSecret),
    /// A plain secret, as sources created before envelope encryption hold it. Still verifies
    /// (read path); the next rotation seals it. The table adapter never writes one.
    Plain(SecretText),
}

impl SourceSecret {
    pub fn is_sealed(&self) -> bool {
        matches!(self, SourceSecret::Sealed(_))
    }
}

impl From<SecretText> for SourceSecret {
    fn from(s: SecretText) -> Self {
        SourceSecret::Plain(s)
    }
}

impl From<SealedSecret> for SourceSecret {
    fn from(s: SealedSecret) -> Self {
        SourceSecret::Sealed(s)
    }
}

/// A fresh data key: plain (to seal with, then dropped) and wrapped (to store).
pub struct DataKey {
    pub plain: PlainKey,
    pub wrapped: Vec<u8>,
}

/// The master key that wraps data keys, bound to an encryption context (the source id).
#[async_trait]
pub trait KeyWrap: Send + Sync {
    /// A fresh 256-bit data key for `source`.
    async fn generate(&self, source: &SourceId) -> DomainResult<DataKey>;
    /// The plain data key of `wrapped`. A key that was not wrapped by this master key for this
    /// very source is refused ([`DomainError::Forbidden`]); a master key that cannot be reached
    /// now is [`DomainError::Unavailable`].
    async fn unwrap(&self, source: &SourceId, wrapped: &[u8]) -> DomainResult<PlainKey>;
    /// What holds the master key (`kms`, `local-dev`), for logs and `/health`.
    fn kind(&self) -> &'static str;
}

/// The port: seal a source's secret, open a sealed one.
#[async_trait]
pub trait SourceSecrets: Send + Sync {
    async fn seal(&self, source: &SourceId, secret: &SecretText) -> DomainResult<SealedSecret>;
    /// Opens `sealed` for `source`. Anything tampered with (ciphertext, nonce, wrapped key, the
    /// source it is bound to, the version) is refused, never opened and never a panic.
    async fn open(&self, source: &SourceId, sealed: &SealedSecret) -> DomainResult<SecretText>;
    /// What holds the master key (`kms`, `local-dev`, `none`).
    fn kind(&self) -> &'static str;
}

/// The HMAC key of `src`: opened when sealed, as stored when it is a legacy plain secret.
pub async fn reveal(secrets: &dyn SourceSecrets, src: &SignalSource) -> DomainResult<SecretText> {
    match &src.secret {
        SourceSecret::Sealed(sealed) => secrets.open(&src.id, sealed).await,
        SourceSecret::Plain(plain) => Ok(plain.clone()),
    }
}

fn refused(what: &str) -> DomainError {
    DomainError::Forbidden(format!("the sealed secret does not open ({what})"))
}

/// What the secret's ciphertext is bound to besides its data key.
fn secret_aad(source: &SourceId, version: u32) -> Vec<u8> {
    format!("vanta/source-secret/v{version}/source={}", source.as_str()).into_bytes()
}

/// Random bytes from the operating system.
fn random<const N: usize>() -> DomainResult<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| DomainError::Unavailable(format!("no randomness: {e}")))?;
    Ok(out)
}

fn cipher(key: &[u8; DATA_KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

/// AES-256-GCM with a fresh random nonce: (nonce, ciphertext).
fn encrypt(key: &[u8; DATA_KEY_LEN], plain: &[u8], aad: &[u8]) -> DomainResult<([u8; NONCE_LEN], Vec<u8>)> {
    let nonce = random::<NONCE_LEN>()?;
    let ct = cipher(key)
        .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
        .map_err(|_| DomainError::Internal("AES-GCM refused to encrypt".into()))?;
    Ok((nonce, ct))
}

fn decrypt(key: &[u8; DATA_KEY_LEN], nonce: &[u8], ct: &[u8], aad: &[u8]) -> DomainResult<Zeroizing<Vec<u8>>> {
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| refused("the nonce is not 96 bits"))?;
    cipher(key).decrypt(&Nonce::from(nonce), Payload { msg: ct, aad }).map(Zeroizing::new).map_err(|_| refused("authentication failed"))
}

/// How long an unwrapped data key stays in memory, and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub ttl_ms: i64,
    pub max_entries: usize,
}

impl Default for CachePolicy {
    /// Five minutes, 1000 keys.
    fn default() -> Self {
        Self { ttl_ms: 5 * 60 * 1000, max_entries: 1000 }
    }
}

/// Unwrapped data keys by (source id, wrapped key), with when each was unwrapped.
type KeyCache = HashMap<(String, Vec<u8>), (PlainKey, Timestamp)>;

/// Seals with a fresh data key per secret; opens with the data key unwrapped by `K`, kept for a
/// bounded time (per warm instance) so a busy source costs one unwrap every few minutes.
pub struct Envelope<K> {
    wrap: K,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    /// (source id, wrapped key) → (plain key, when it was unwrapped).
    cache: Mutex<KeyCache>,
}

impl<K: KeyWrap> Envelope<K> {
    pub fn new(wrap: K, clock: Arc<dyn Clock>) -> Self {
        Self::with_policy(wrap, clock, CachePolicy::default())
    }

    pub fn with_policy(wrap: K, clock: Arc<dyn Clock>, policy: CachePolicy) -> Self {
        Self { wrap, clock, policy, cache: Mutex::new(HashMap::new()) }
    }

    /// How many unwrapped keys are held now.
    pub fn cached_keys(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn cached(&self, source: &SourceId, wrapped: &[u8]) -> Option<PlainKey> {
        let now = self.clock.now();
        let mut cache = self.cache.lock().ok()?;
        let key = (source.as_str().to_owned(), wrapped.to_vec());
        match cache.get(&key) {
            Some((plain, at)) if now.since(*at) < self.policy.ttl_ms => Some(plain.clone()),
            Some(_) => {
                cache.remove(&key);
                None
            }
            None => None,
        }
    }

    fn remember(&self, source: &SourceId, wrapped: &[u8], plain: &PlainKey) {
        if self.policy.max_entries == 0 {
            return;
        }
        let now = self.clock.now();
        let Ok(mut cache) = self.cache.lock() else { return };
        if cache.len() >= self.policy.max_entries {
            let ttl = self.policy.ttl_ms;
            cache.retain(|_, (_, at)| now.since(*at) < ttl);
        }
        while cache.len() >= self.policy.max_entries {
            let Some(oldest) = cache.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone()) else { break };
            cache.remove(&oldest);
        }
        cache.insert((source.as_str().to_owned(), wrapped.to_vec()), (plain.clone(), now));
    }
}

#[async_trait]
impl<K: KeyWrap> SourceSecrets for Envelope<K> {
    async fn seal(&self, source: &SourceId, secret: &SecretText) -> DomainResult<SealedSecret> {
        let key = self.wrap.generate(source).await?;
        let (nonce, ciphertext) = encrypt(&key.plain, secret.expose().as_bytes(), &secret_aad(source, ENVELOPE_V1))?;
        Ok(SealedSecret { version: ENVELOPE_V1, ciphertext, nonce: nonce.to_vec(), wrapped_key: key.wrapped })
    }

    async fn open(&self, source: &SourceId, sealed: &SealedSecret) -> DomainResult<SecretText> {
        if sealed.version != ENVELOPE_V1 {
            return Err(refused(&format!("unknown envelope version {}", sealed.version)));
        }
        let plain_key = match self.cached(source, &sealed.wrapped_key) {
            Some(k) => k,
            None => {
                let k = self.wrap.unwrap(source, &sealed.wrapped_key).await?;
                self.remember(source, &sealed.wrapped_key, &k);
                k
            }
        };
        let plain = decrypt(&plain_key, &sealed.nonce, &sealed.ciphertext, &secret_aad(source, sealed.version))?;
        let text = std::str::from_utf8(&plain).map_err(|_| refused("the secret is not text"))?;
        Ok(SecretText::new(text))
    }

    fn kind(&self) -> &'static str {
        self.wrap.kind()
    }
}

/// **Development only.** A master key compiled into the binary, for `make run` and tests: it
/// exercises the same envelope as KMS but protects nothing. The Lambda wiring never uses it
/// (it uses KMS, or refuses with [`NoSourceSecrets`]).
pub struct LocalDevKeyWrap {
    master: PlainKey,
}

/// The dev-only master key's derivation input. Not a secret: it is in the source.
const LOCAL_DEV_MASTER: &[u8; DATA_KEY_LEN] = b"vanta-local-dev-only-master-key!";

impl Default for LocalDevKeyWrap {
    fn default() -> Self {
        Self { master: Zeroizing::new(*LOCAL_DEV_MASTER) }
    }
}

impl LocalDevKeyWrap {
    fn aad(source: &SourceId) -> Vec<u8> {
        format!("vanta/data-key/source={}", source.as_str()).into_bytes()
    }
}

#[async_trait]
impl KeyWrap for LocalDevKeyWrap {
    async fn generate(&self, source: &SourceId) -> DomainResult<DataKey> {
        let plain = Zeroizing::new(random::<DATA_KEY_LEN>()?);
        let (nonce, ct) = encrypt(&self.master, plain.as_slice(), &Self::aad(source))?;
        let mut wrapped = nonce.to_vec();
        wrapped.extend_from_slice(&ct);
        Ok(DataKey { plain, wrapped })
    }

    async fn unwrap(&self, source: &SourceId, wrapped: &[u8]) -> DomainResult<PlainKey> {
        let (nonce, ct) = wrapped.split_at_checked(NONCE_LEN).ok_or_else(|| refused("the wrapped key is too short"))?;
        let plain = decrypt(&self.master, nonce, ct, &Self::aad(source))?;
        let key: [u8; DATA_KEY_LEN] = plain.as_slice().try_into().map_err(|_| refused("the data key is not 256 bits"))?;
        Ok(Zeroizing::new(key))
    }

    fn kind(&self) -> &'static str {
        "local-dev"
    }
}

/// The envelope over the dev-only local key (`make run`, tests).
pub fn local_dev(clock: Arc<dyn Clock>) -> Envelope<LocalDevKeyWrap> {
    Envelope::new(LocalDevKeyWrap::default(), clock)
}

/// No master key configured (`SOURCE_SECRETS_KEY_ID` unset under Lambda): nothing is sealed, so
/// no source is created or rotated, and sealed secrets are not opened. Fails closed.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSourceSecrets;

const NO_KEY: &str = "signal-source secrets are unavailable: SOURCE_SECRETS_KEY_ID is not configured";

#[async_trait]
impl SourceSecrets for NoSourceSecrets {
    async fn seal(&self, _: &SourceId, _: &SecretText) -> DomainResult<SealedSecret> {
        Err(DomainError::Unavailable(NO_KEY.into()))
    }
    async fn open(&self, _: &SourceId, _: &SealedSecret) -> DomainResult<SecretText> {
        Err(DomainError::Unavailable(NO_KEY.into()))
    }
    fn kind(&self) -> &'static str {
        "none"
    }
}
