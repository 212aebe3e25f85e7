//! The signal API's request side: authentication (HMAC + timestamp, or a TradingView path
//! token), strict parsing into an [`Action`], and the canonical payload that tells a retry from a
//! conflicting reuse of an id.
//!
//! Amounts are read from the JSON text (strings or numbers), never through floats.

use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use vanta_domain::ids::{IntentId, SignalId, SourceId};
use vanta_domain::intent::{Action, OpenOrder};
use vanta_domain::market::{PairCatalog, PairSymbol, Side};
use vanta_domain::money::{Bps, DecimalText, Leverage, PercentP, Price, Usdc, parse_scaled};

pub const TIMESTAMP_HEADER: &str = "x-vanta-timestamp";
pub const SIGNATURE_HEADER: &str = "x-vanta-signature";

/// A refusal: the HTTP status and the reason the caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self { status, reason: reason.into() }
    }
}

fn bad(reason: impl Into<String>) -> Refusal {
    Refusal::new(400, reason)
}
fn invalid(reason: impl Into<String>) -> Refusal {
    Refusal::new(422, reason)
}

/// A validated signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub source: SourceId,
    pub id: SignalId,
    pub action: Action,
}

impl Signal {
    /// The idempotency key: one intent per (source, id), forever, and never one for two pairs.
    ///
    /// Source and signal ids may hold `:`, so `sig:{source}:{id}` alone would be ambiguous
    /// (`a:b` + `c` against `a` + `b:c`). Without a `:` in either part the id stays the readable
    /// `sig:{source}:{id}` it always was (exactly two colons); otherwise it is
    /// `sig2:{length of source}:{source}:{id}`, which names one pair only and never starts with
    /// `sig:`.
    pub fn intent_id(&self) -> Result<IntentId, Refusal> {
        let (source, id) = (self.source.as_str(), self.id.as_str());
        let text = if source.contains(':') || id.contains(':') {
            format!("sig2:{}:{source}:{id}", source.len())
        } else {
            format!("sig:{source}:{id}")
        };
        IntentId::parse(&text).map_err(|e| invalid(e.to_string()))
    }
    /// The id signals with a `:` in the source or id got before [`Signal::intent_id`] told them
    /// apart. An intent stored under it belongs to this signal only if its origin names this very
    /// source and id (the caller checks).
    pub fn legacy_intent_id(&self) -> Option<IntentId> {
        let (source, id) = (self.source.as_str(), self.id.as_str());
        (source.contains(':') || id.contains(':')).then(|| IntentId::parse(&format!("sig:{source}:{id}")).ok()).flatten()
    }
    /// SHA-256 of the canonical form: `"100"` and `100.0` are the same request; a different
    /// amount under the same id is not.
    ///
    /// The canonical form is the JSON object `{source, id, action}` with the keys of every
    /// object sorted and no spaces: what `serde_json::Value` prints (stored intents hold hashes
    /// of that form, so it never changes). It is written directly, without building a `Value`;
    /// [`Signal::canonical_by_value`] is the reference it must equal (tested).
    pub fn payload_hash(&self) -> String {
        let canonical = self.canonical().unwrap_or_else(|| self.canonical_by_value());
        vanta_domain::ids::payload_hash(&canonical)
    }

    /// The canonical form written field by field. Every variant is taken apart whole (no `..`),
    /// so a field added to an action does not compile until it is written here. None only if a
    /// value failed to serialise (the caller then uses the reference).
    fn canonical(&self) -> Option<Vec<u8>> {
        let mut w = Canonical { out: Vec::with_capacity(256), ok: true };
        w.out.extend_from_slice(b"{\"action\":{\"action\":");
        match &self.action {
            Action::Open(o) => w.order("open", o),
            Action::Flip(o) => w.order("flip", o),
            Action::Close { pair, side, fraction } => {
                w.value("close");
                w.field("fraction", fraction);
                w.field("pair", pair);
                w.field("side", side);
            }
            Action::UpdateTpSl { pair, side, tp, sl } => {
                w.value("update_tp_sl");
                w.field("pair", pair);
                w.field("side", side);
                w.field("sl", sl);
                w.field("tp", tp);
            }
            Action::ClosePosition { position, fraction } => {
                w.value("close_position");
                w.field("fraction", fraction);
                w.field("position", position);
            }
            Action::Pause => w.value("pause"),
            Action::Flatten => w.value("flatten"),
        }
        w.out.push(b'}');
        w.field("id", &self.id);
        w.field("source", &self.source);
        w.out.push(b'}');
        w.ok.then_some(w.out)
    }

    /// The canonical form through `serde_json::Value` (sorted keys): the definition.
    pub fn canonical_by_value(&self) -> Vec<u8> {
        let value = serde_json::json!({ "source": self.source, "id": self.id, "action": self.action });
        value.to_string().into_bytes()
    }
}

/// The writer of [`Signal::canonical`]: `"key":value` pairs after the first, in the order given
/// (the caller gives them sorted).
struct Canonical {
    out: Vec<u8>,
    ok: bool,
}

impl Canonical {
    fn value<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        self.ok &= serde_json::to_writer(&mut self.out, v).is_ok();
    }
    fn field<T: serde::Serialize + ?Sized>(&mut self, key: &str, v: &T) {
        self.out.push(b',');
        self.value(key);
        self.out.push(b':');
        self.value(v);
    }
    fn order(&mut self, name: &str, o: &OpenOrder) {
        let OpenOrder { pair, side, collateral, leverage, tp, sl, slippage } = o;
        self.value(name);
        self.field("collateral", collateral);
        self.field("leverage", leverage);
        self.field("pair", pair);
        self.field("side", side);
        self.field("sl", sl);
        self.field("slippage", slippage);
        self.field("tp", tp);
    }
}

/// The fields a signal may carry. Anything else is refused by name.
const FIELDS: &[&str] = &["source", "id", "action", "pair", "side", "collateral_usdc", "leverage", "tp", "sl", "slippage_pct", "fraction"];

/// Reads just the `source` field (to find the secret before the signature is checked).
pub fn peek_source(body: &[u8]) -> Result<SourceId, Refusal> {
    read_body(body).source
}

/// A signal body read once: its `source` (needed before the signature is checked, to find the
/// secret) and the whole signal, each with its own refusal, so the caller reports a body's
/// faults only once the sender is authenticated.
#[derive(Debug, Clone)]
pub struct Body {
    pub source: Result<SourceId, Refusal>,
    pub signal: Result<Signal, Refusal>,
}

/// Parses a signal body once into its [`Body`]. The source is refused as [`peek_source`] always
/// refused it; the signal as [`parse`] does.
pub fn read_body(body: &[u8]) -> Body {
    let fields: Fields = match serde_json::from_slice(body) {
        Ok(f) => f,
        Err(_) => {
            let not_object = bad("body is not a JSON object");
            let signal = if std::str::from_utf8(body).is_err() { bad("body is not UTF-8") } else { not_object.clone() };
            return Body { source: Err(not_object), signal: Err(signal) };
        }
    };
    let source = match fields.get("source").map(|v| v.get()) {
        None => Err(invalid("source is required")),
        Some(raw) => match serde_json::from_str::<String>(raw) {
            Ok(s) => SourceId::parse(&s).map_err(|e| invalid(format!("source: {e}"))),
            Err(_) => Err(bad("source must be a string")),
        },
    };
    Body { source, signal: parse_fields(&fields) }
}

/// The fields of [`FIELDS`] in alphabetical order (the order refusals name them in).
const SORTED_FIELDS: [&str; 11] =
    ["action", "collateral_usdc", "fraction", "id", "leverage", "pair", "side", "sl", "slippage_pct", "source", "tp"];

/// A body's top-level fields, each as its raw JSON text borrowed from the body; a repeated
/// field keeps its last value. Read without a map of owned keys: only the known fields are kept,
/// and of the others the alphabetically first, which a refusal names.
struct Fields<'a> {
    known: [Option<&'a RawValue>; SORTED_FIELDS.len()],
    unknown: Option<String>,
}

impl<'a> Fields<'a> {
    fn get(&self, k: &str) -> Option<&'a RawValue> {
        SORTED_FIELDS.iter().position(|f| *f == k).and_then(|i| self.known.get(i).copied().flatten())
    }
    /// The known fields present, alphabetically.
    fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        SORTED_FIELDS.iter().zip(self.known.iter()).filter(|(_, v)| v.is_some()).map(|(k, _)| *k)
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Fields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Fields<'a>, M::Error> {
                let mut fields = Fields { known: [None; SORTED_FIELDS.len()], unknown: None };
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    match SORTED_FIELDS.iter().position(|f| *f == key) {
                        Some(i) => {
                            if let Some(slot) = fields.known.get_mut(i) {
                                *slot = Some(value);
                            }
                        }
                        None => {
                            if fields.unknown.as_deref().is_none_or(|u| *key < *u) {
                                fields.unknown = Some(key.into_owned());
                            }
                        }
                    }
                }
                Ok(fields)
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// An object key: borrowed from the body unless it holds escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// Parses and validates a signal body. 400: not JSON / wrong types; 422: well-formed but invalid.
pub fn parse(body: &[u8]) -> Result<Signal, Refusal> {
    let text = std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
    let fields: Fields = serde_json::from_str(text.trim()).map_err(|_| bad("body is not a JSON object"))?;
    parse_fields(&fields)
}

fn parse_fields(fields: &Fields) -> Result<Signal, Refusal> {
    if let Some(unknown) = &fields.unknown {
        return Err(invalid(format!("unknown field '{unknown}' (allowed: {})", FIELDS.join(", "))));
    }
    let get = |k: &str| fields.get(k).filter(|v| v.get() != "null");
    let string = |k: &str| -> Result<Option<std::borrow::Cow<'_, str>>, Refusal> {
        match get(k) {
            None => Ok(None),
            // Borrowed from the body unless the string holds escapes.
            Some(raw) => match serde_json::from_str::<&str>(raw.get()) {
                Ok(text) => Ok(Some(std::borrow::Cow::Borrowed(text))),
                Err(_) => serde_json::from_str::<String>(raw.get())
                    .map(|t| Some(std::borrow::Cow::Owned(t)))
                    .map_err(|_| bad(format!("{k} must be a string"))),
            },
        }
    };
    let required =
        |k: &str| -> Result<std::borrow::Cow<'_, str>, Refusal> { string(k)?.ok_or_else(|| invalid(format!("{k} is required"))) };
    let decimal = |k: &str| -> Result<Option<String>, Refusal> {
        match get(k) {
            None => Ok(None),
            Some(raw) => {
                DecimalText::from_json_raw(raw).map(|d| Some(d.0)).map_err(|_| bad(format!("{k} must be a decimal number or string")))
            }
        }
    };
    let source = SourceId::parse(&required("source")?).map_err(|e| invalid(format!("source: {e}")))?;
    let id = SignalId::parse(&required("id")?).map_err(|e| invalid(format!("id: {e}")))?;
    let action_name = required("action")?.to_ascii_lowercase();

    let pair = || -> Result<PairSymbol, Refusal> { PairSymbol::parse(&required("pair")?).map_err(|e| invalid(e.to_string())) };
    let side = || -> Result<Side, Refusal> { required("side")?.parse::<Side>().map_err(|e| invalid(e.to_string())) };
    let price = |k: &str| -> Result<Option<Price>, Refusal> {
        decimal(k)?
            .map(|t| {
                let p: Price = t.parse().map_err(|e| invalid(format!("{k}: {e}")))?;
                if p.is_zero() { Err(invalid(format!("{k} must be above zero (omit it for none)"))) } else { Ok(p) }
            })
            .transpose()
    };
    let only = |allowed: &[&str]| -> Result<(), Refusal> {
        match fields.keys().find(|k| !["source", "id", "action"].contains(k) && !allowed.contains(k)) {
            Some(k) => Err(invalid(format!("{k} is not used by action '{action_name}'"))),
            None => Ok(()),
        }
    };
    let open_order = || -> Result<OpenOrder, Refusal> {
        only(&["pair", "side", "collateral_usdc", "leverage", "tp", "sl", "slippage_pct"])?;
        let collateral: Usdc = decimal("collateral_usdc")?
            .ok_or_else(|| invalid("collateral_usdc is required"))?
            .parse()
            .map_err(|e| invalid(format!("collateral_usdc: {e}")))?;
        if collateral.is_zero() {
            return Err(invalid("collateral_usdc must be above zero"));
        }
        let leverage: Leverage =
            decimal("leverage")?.ok_or_else(|| invalid("leverage is required"))?.parse().map_err(|e| invalid(format!("leverage: {e}")))?;
        let slippage = decimal("slippage_pct")?
            .map(|t| {
                let p: PercentP = t.parse().map_err(|e| invalid(format!("slippage_pct: {e}")))?;
                if p.is_zero() || p > PercentP::HUNDRED { Err(invalid("slippage_pct must be above 0 and at most 100")) } else { Ok(p) }
            })
            .transpose()?;
        Ok(OpenOrder { pair: pair()?, side: side()?, collateral, leverage, tp: price("tp")?, sl: price("sl")?, slippage })
    };
    let action = match action_name.as_str() {
        "open" => Action::Open(open_order()?),
        "flip" => Action::Flip(open_order()?),
        "close" => {
            only(&["pair", "side", "fraction"])?;
            let fraction = match decimal("fraction")? {
                None => Bps::FULL,
                Some(t) => {
                    let v = parse_scaled(&t, 4).map_err(|e| invalid(format!("fraction: {e} (use 0.0001 to 1)")))?;
                    if !(1..=10_000).contains(&v) {
                        return Err(invalid("fraction must be above 0 and at most 1"));
                    }
                    Bps::new(u32::try_from(v).map_err(|_| invalid("fraction out of range"))?).map_err(|e| invalid(e.to_string()))?
                }
            };
            Action::Close { pair: pair()?, side: side()?, fraction }
        }
        "update_tpsl" => {
            only(&["pair", "side", "tp", "sl"])?;
            let (tp, sl) = (price("tp")?, price("sl")?);
            if tp.is_none() && sl.is_none() {
                return Err(invalid("update_tpsl needs tp, sl or both"));
            }
            Action::UpdateTpSl { pair: pair()?, side: side()?, tp, sl }
        }
        "pause" => {
            only(&[])?;
            Action::Pause
        }
        "flatten" => {
            only(&[])?;
            Action::Flatten
        }
        other => return Err(invalid(format!("unknown action '{other}' (open, close, flip, update_tpsl, pause, flatten)"))),
    };
    Ok(Signal { source, id, action })
}

/// `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<raw body>"), compared in constant time.
pub fn verify_signature(secret: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else { return false };
    let mut sig = [0u8; 32];
    if hex::decode_to_slice(hex_sig, &mut sig).is_err() {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The header value a client sends (used by tests, the local runner's example and `/signals`).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// SHA-256 hex of a TradingView path token (only the hash is stored).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random secret or token: 32 bytes as hex.
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// The venue's pair list, as the signal API checks it
// ---------------------------------------------------------------------------------------------

/// How long this instance trusts the pair list it read.
pub const CATALOG_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// How long a list that can no longer be refreshed still serves.
pub const CATALOG_STALE_MAX: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long an instance keeps the stored catalog it read before reading the item again.
pub const STORED_CATALOG_CACHE: std::time::Duration = std::time::Duration::from_secs(30);
/// The oldest stored catalog that still serves opens (the indexer refreshes it every minute).
pub const STORED_CATALOG_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// The venue's pair list as handlers check it. Without a store (unit tests) it is read through
/// [`vanta_domain::ports::Venue::pairs`] and cached per instance for [`CATALOG_TTL`]. With a
/// store ([`CatalogCache::stored`], every Lambda and the local runner) it is the catalog the
/// indexer keeps there ([`crate::market::refresh_catalog`]), read at most every
/// [`STORED_CATALOG_CACHE`]; one fetched more than [`STORED_CATALOG_MAX_AGE`] ago, or none, is
/// an error, so opens fail closed (exits never ask for it).
#[derive(Default)]
pub struct CatalogCache {
    entry: std::sync::Mutex<Option<(vanta_domain::time::Timestamp, std::sync::Arc<PairCatalog>)>>,
    stored: Option<std::sync::Arc<dyn vanta_domain::catalog::CatalogStore>>,
    source: Option<std::sync::Arc<dyn vanta_domain::catalog::CatalogSource>>,
    /// The stored catalog as last read: (read at, fetched at, the catalog).
    read: std::sync::Mutex<Option<StoredRead>>,
}

type StoredRead = (vanta_domain::time::Timestamp, vanta_domain::time::Timestamp, std::sync::Arc<PairCatalog>);

impl CatalogCache {
    /// A cache over the catalog `store` keeps; `source` (the indexer's) refreshes it.
    pub fn stored(
        store: std::sync::Arc<dyn vanta_domain::catalog::CatalogStore>,
        source: Option<std::sync::Arc<dyn vanta_domain::catalog::CatalogSource>>,
    ) -> Self {
        Self { stored: Some(store), source, ..Self::default() }
    }

    /// The store and source, where configured (for the indexer's refresh).
    pub fn refresher(&self) -> Option<(&dyn vanta_domain::catalog::CatalogStore, &dyn vanta_domain::catalog::CatalogSource)> {
        Some((self.stored.as_deref()?, self.source.as_deref()?))
    }

    /// Whether the catalog is the stored one ([`CatalogCache::stored`]).
    pub fn is_stored(&self) -> bool {
        self.stored.is_some()
    }

    /// Forgets what this instance read (after a refresh, so it serves the new catalog at once).
    pub fn forget(&self) {
        if let Ok(mut g) = self.read.lock() {
            *g = None;
        }
    }

    /// The list: cached if fresh, else read now; a failed read falls back to a list at most
    /// [`CATALOG_STALE_MAX`] old, else is the error. With a store, see [`CatalogCache`].
    pub async fn get(
        &self,
        venue: &dyn vanta_domain::ports::Venue,
        now: vanta_domain::time::Timestamp,
    ) -> vanta_domain::DomainResult<std::sync::Arc<PairCatalog>> {
        if let Some(store) = &self.stored {
            return self.get_stored(store.as_ref(), now).await;
        }
        let cached = self.entry.lock().ok().and_then(|g| g.clone());
        let age = |at: vanta_domain::time::Timestamp| u64::try_from(now.since(at)).unwrap_or(u64::MAX);
        if let Some((at, c)) = &cached
            && age(*at) < millis(CATALOG_TTL)
        {
            return Ok(c.clone());
        }
        match venue.pairs().await {
            Ok(c) => {
                if let Ok(mut g) = self.entry.lock() {
                    *g = Some((now, c.clone()));
                }
                Ok(c)
            }
            Err(e) => match cached {
                Some((at, c)) if age(at) < millis(CATALOG_STALE_MAX) => {
                    tracing::warn!(error = %e, "pair list not refreshed; using the one read earlier");
                    Ok(c)
                }
                _ => Err(e),
            },
        }
    }

    async fn get_stored(
        &self,
        store: &dyn vanta_domain::catalog::CatalogStore,
        now: vanta_domain::time::Timestamp,
    ) -> vanta_domain::DomainResult<std::sync::Arc<PairCatalog>> {
        use vanta_domain::DomainError;
        let age = |at: vanta_domain::time::Timestamp| u64::try_from(now.since(at)).unwrap_or(u64::MAX);
        let cached = self.read.lock().ok().and_then(|g| g.clone()).filter(|(at, _, _)| age(*at) < millis(STORED_CATALOG_CACHE));
        let (fetched_at, catalog) = match cached {
            Some((_, f, c)) => (f, c),
            None => {
                let c = store.get_catalog().await?.ok_or_else(|| {
                    DomainError::Unavailable("the venue's market list has not been read yet (the indexer stores it)".into())
                })?;
                let read = (c.fetched_at, std::sync::Arc::new(c.catalog));
                if let Ok(mut g) = self.read.lock() {
                    *g = Some((now, read.0, read.1.clone()));
                }
                read
            }
        };
        if age(fetched_at) > millis(STORED_CATALOG_MAX_AGE) {
            return Err(DomainError::Unavailable(format!(
                "the venue's market list is {} minutes old (the indexer refreshes it every minute)",
                now.since(fetched_at) / 60_000
            )));
        }
        Ok(catalog)
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Checks a signal's pair against the venue's list. An unknown pair is 422. A list that cannot
/// be read refuses what adds exposure with 503 (nothing was accepted, retry) and lets every
/// reduce-only action through, so an exit is never refused for it (the pipeline checks again).
pub fn check_pair(signal: &Signal, catalog: Result<&PairCatalog, &vanta_domain::DomainError>) -> Result<(), Refusal> {
    let pair = match &signal.action {
        Action::Open(o) | Action::Flip(o) => Some(&o.pair),
        Action::Close { pair, .. } | Action::UpdateTpSl { pair, .. } => Some(pair),
        Action::ClosePosition { .. } | Action::Pause | Action::Flatten => None,
    };
    match (pair, catalog) {
        (None, _) => Ok(()),
        (Some(p), Ok(c)) => {
            c.resolve(p.as_str()).map(|_| ()).map_err(|_| invalid(format!("pair: {p} is not listed on the venue (see /markets)")))
        }
        (Some(_), Err(e)) if signal.action.adds_exposure() => {
            tracing::warn!(error = %e, "signal not accepted: the venue's pair list is unavailable");
            Err(Refusal::new(503, "the venue's market list is unavailable; nothing was accepted, retry"))
        }
        (Some(_), Err(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use std::str::FromStr;

    use super::*;
    use vanta_domain::ids::PositionId;
    use vanta_domain::money::SlippageP;

    fn signal(source: &str, id: &str, action: Action) -> Signal {
        Signal { source: SourceId::parse(source).unwrap(), id: SignalId::parse(id).unwrap(), action }
    }

    fn actions() -> Vec<Action> {
        let pair = PairSymbol::parse("BTC/USD").unwrap();
        let price = |s: &str| Price::from_str(s).unwrap();
        let mut out = Vec::new();
        for side in [Side::Long, Side::Short] {
            for (tp, sl) in
                [(None, None), (Some(price("120000.5")), None), (None, Some(price("0.0000000001"))), (Some(price("1")), Some(price("2")))]
            {
                for slippage in [None, Some(SlippageP::from_str("0.35").unwrap())] {
                    let o = OpenOrder {
                        pair: pair.clone(),
                        side,
                        collateral: Usdc::from_str("100.000001").unwrap(),
                        leverage: Leverage::from_str("12.5").unwrap(),
                        tp,
                        sl,
                        slippage,
                    };
                    out.push(Action::Open(o.clone()));
                    out.push(Action::Flip(o));
                }
                out.push(Action::UpdateTpSl { pair: pair.clone(), side, tp, sl });
            }
            out.push(Action::Close { pair: pair.clone(), side, fraction: Bps::new(2_500).unwrap() });
        }
        out.push(Action::ClosePosition { position: PositionId::parse("pos:7:abc").unwrap(), fraction: Bps::FULL });
        out.push(Action::Pause);
        out.push(Action::Flatten);
        out
    }

    #[test]
    fn the_canonical_form_written_directly_is_the_one_the_json_value_prints() {
        let ids = ["a-1", "quote\"and\\slash", "ünïcode·id", "tab\tnew\nline", "a:b"];
        let mut checked = 0;
        for action in actions() {
            for id in ids {
                let Ok(id) = SignalId::parse(id) else { continue };
                let s = Signal { source: SourceId::parse("strat").unwrap(), id, action: action.clone() };
                let direct = s.canonical().unwrap();
                assert_eq!(String::from_utf8(direct).unwrap(), String::from_utf8(s.canonical_by_value()).unwrap());
                checked += 1;
            }
        }
        assert!(checked > 60, "{checked}");
    }

    #[test]
    fn the_payload_hash_of_a_signal_never_changes() {
        // Stored intents carry this hash: a new form would turn a retried signal into a 409.
        let s = signal(
            "strat",
            "a-1",
            Action::Open(OpenOrder {
                pair: PairSymbol::parse("BTC/USD").unwrap(),
                side: Side::Long,
                collateral: Usdc::from_str("100").unwrap(),
                leverage: Leverage::from_whole(5).unwrap(),
                tp: Some(Price::from_str("120000").unwrap()),
                sl: None,
                slippage: None,
            }),
        );
        assert_eq!(
            String::from_utf8(s.canonical_by_value()).unwrap(),
            r#"{"action":{"action":"open","collateral":"100","leverage":"5","pair":"BTC/USD","side":"long","sl":null,"slippage":null,"tp":"120000"},"id":"a-1","source":"strat"}"#
        );
        assert_eq!(s.payload_hash(), vanta_domain::ids::payload_hash(&s.canonical_by_value()));
    }

    #[test]
    fn the_sorted_field_list_is_the_field_list_sorted() {
        let mut sorted = FIELDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, SORTED_FIELDS);
    }

    #[test]
    fn fields_are_read_as_a_json_object_would_be() {
        let open = r#""source":"s","id":"i","action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"10","leverage":"2""#;
        // The alphabetically first unknown field is the one named, wherever it stands.
        let r = parse(format!(r#"{{"zeta":1,{open},"beta":2}}"#).as_bytes()).unwrap_err();
        assert!(r.reason.starts_with("unknown field 'beta'"), "{r:?}");
        // A repeated field keeps its last value.
        let s = parse(format!(r#"{{{open},"leverage":"3"}}"#).as_bytes()).unwrap();
        let Action::Open(o) = s.action else { panic!() };
        assert_eq!(o.leverage, Leverage::from_whole(3).unwrap());
        // An escaped key is its unescaped name.
        let s = parse(format!(r#"{{{},"\u006ceverage":"4"}}"#, open.replace(r#","leverage":"2""#, "")).as_bytes()).unwrap();
        let Action::Open(o) = s.action else { panic!() };
        assert_eq!(o.leverage, Leverage::from_whole(4).unwrap());
        // A field the action does not use: the alphabetically first is named.
        let r = parse(br#"{"source":"s","id":"i","action":"pause","tp":"1","fraction":"1"}"#).unwrap_err();
        assert_eq!(r.reason, "fraction is not used by action 'pause'");
        // Null is absent.
        let s = parse(format!(r#"{{{open},"tp":null}}"#).as_bytes()).unwrap();
        let Action::Open(o) = s.action else { panic!() };
        assert_eq!(o.tp, None);
        for bad_body in [&b"[1]"[..], b"{\"source\":\"s\"", b"{} x", b"\"str\"", b"{\"source\":\"s\",}"] {
            assert_eq!(parse(bad_body).unwrap_err().status, 400, "{}", String::from_utf8_lossy(bad_body));
        }
        assert_eq!(read_body(b"{\"id\":\"i\"}").source.unwrap_err().reason, "source is required");
    }
}
