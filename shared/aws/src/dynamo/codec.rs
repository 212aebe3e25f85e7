//! The wire mapping: domain entities ⇄ DynamoDB items. Nothing outside this crate sees an
//! [`AttributeValue`]; anything unreadable in a stored item is `DomainError::Internal`.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{PositionId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{AuditEntry, Intent};
use vanta_domain::position::Position;
use vanta_domain::sealed::{SealedSecret, SourceSecret};
use vanta_domain::time::Timestamp;
use vanta_domain::user::{Follow, SecretText, SignalSource, User};
use vanta_domain::wallet::{AddressClaim, WalletChallenge};
use vanta_domain::{DomainError, DomainResult};

use super::keys as k;

/// One DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

// ---------------------------------------------------------------------------------------------
// Attribute values

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(k::PK.to_owned(), s(pk)), (k::SK.to_owned(), s(sk))])
}

/// The JSON form of a domain value, stored in `data`.
pub(crate) fn json<T: Serialize>(v: &T) -> DomainResult<AttributeValue> {
    serde_json::to_string(v).map(AttributeValue::S).map_err(|e| DomainError::Internal(format!("cannot serialise for storage: {e}")))
}

fn bad(item: &Item, why: impl Display) -> DomainError {
    let part = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
    DomainError::Internal(format!("unreadable item {}/{}: {why}", part(k::PK), part(k::SK)))
}

pub(crate) fn req_s<'a>(item: &'a Item, name: &str) -> DomainResult<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        Some(_) => Err(bad(item, format!("'{name}' is not a string"))),
        None => Err(bad(item, format!("'{name}' is missing"))),
    }
}

pub(crate) fn opt_n<T: FromStr>(item: &Item, name: &str) -> DomainResult<Option<T>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| bad(item, format!("'{name}' is not a valid number"))),
        Some(_) => Err(bad(item, format!("'{name}' is not a number"))),
    }
}

pub(crate) fn req_n<T: FromStr>(item: &Item, name: &str) -> DomainResult<T> {
    opt_n(item, name)?.ok_or_else(|| bad(item, format!("'{name}' is missing")))
}

/// A number an operator may have typed by hand: `N`, or `S` holding a number.
fn lenient_n<T: FromStr>(item: &Item, name: &str) -> DomainResult<Option<T>> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.trim().parse().map(Some).map_err(|_| bad(item, format!("'{name}' is not a number"))),
        _ => opt_n(item, name),
    }
}

fn req_bool(item: &Item, name: &str) -> DomainResult<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        Some(_) => Err(bad(item, format!("'{name}' is not a boolean"))),
        None => Err(bad(item, format!("'{name}' is missing"))),
    }
}

/// The domain value stored as JSON in `data`.
pub(crate) fn data<T: DeserializeOwned>(item: &Item) -> DomainResult<T> {
    serde_json::from_str(req_s(item, k::DATA)?).map_err(|e| bad(item, format!("'data': {e}")))
}

/// Reads a domain value out of an item.
pub(crate) trait FromItem: Sized {
    fn from_item(item: &Item) -> DomainResult<Self>;
}

// ---------------------------------------------------------------------------------------------
// Users and address claims

/// A user and the revision of its item (every write of the profile increments it; writers
/// condition on it so that `update_user` and `bind_address` never lose each other's changes).
pub(crate) struct UserRow {
    pub user: User,
    pub rev: u64,
}

impl FromItem for UserRow {
    fn from_item(item: &Item) -> DomainResult<Self> {
        Ok(Self { user: data(item)?, rev: opt_n(item, k::REV)?.unwrap_or(0) })
    }
}

/// The profile item's non-key attributes, without gsi2 (only `bind_address` writes those).
pub(crate) fn user_item(user: &User, rev: u64) -> DomainResult<Item> {
    let mut item = key(k::user(user.id), k::PROFILE);
    item.insert(k::DATA.into(), json(user)?);
    item.insert(k::REV.into(), n(rev));
    Ok(item)
}

/// An unverified claim (`bind_address`).
pub(crate) fn claim_item(address: &TraderAddress, owner: TelegramUserId) -> Item {
    let mut item = key(k::addr(address), k::CLAIM);
    item.insert(k::OWNER.into(), n(owner.0));
    item.insert(k::VERIFIED.into(), AttributeValue::Bool(false));
    item
}

/// A claim its owner proved with a signature at `at`.
pub(crate) fn verified_claim_item(address: &TraderAddress, owner: TelegramUserId, at: Timestamp) -> Item {
    let mut item = claim_item(address, owner);
    item.insert(k::VERIFIED.into(), AttributeValue::Bool(true));
    item.insert(k::VERIFIED_AT.into(), n(at.millis()));
    item
}

pub(crate) fn claim_owner(item: &Item) -> DomainResult<TelegramUserId> {
    req_n(item, k::OWNER).map(TelegramUserId)
}

/// A claim written before proofs existed has no `verified`: it reads as unverified.
pub(crate) fn claim_of(item: &Item) -> DomainResult<AddressClaim> {
    let verified = match item.get(k::VERIFIED) {
        None | Some(AttributeValue::Null(_)) => false,
        Some(_) => req_bool(item, k::VERIFIED)?,
    };
    Ok(AddressClaim { owner: claim_owner(item)?, verified })
}

// ---------------------------------------------------------------------------------------------
// Wallet challenges (field by field: `used` and `expires_at` are in conditions)

/// Kept a week past expiry (an audit trail of proofs); expiry is decided by `expires_at`.
const CHALLENGE_KEEP_MS: i64 = 7 * 86_400_000;

pub(crate) fn challenge_item(c: &WalletChallenge) -> Item {
    let mut item = key(k::challenge(&c.nonce), k::CHALLENGE);
    item.insert(k::GSI1PK.into(), s(k::user(c.user)));
    item.insert(k::GSI1SK.into(), s(k::challenge_by_user(c.issued_at, &c.nonce)));
    item.insert(k::OWNER.into(), n(c.user.0));
    item.insert(k::ADDRESS.into(), s(c.address.key()));
    item.insert(k::MESSAGE.into(), s(c.message.clone()));
    item.insert(k::ISSUED_AT.into(), n(c.issued_at.millis()));
    item.insert(k::EXPIRES_AT.into(), n(c.expires_at.millis()));
    item.insert(k::USED.into(), AttributeValue::Bool(c.used));
    item.insert(k::TTL.into(), ttl_of(Timestamp(c.expires_at.millis().saturating_add(CHALLENGE_KEEP_MS))));
    item
}

impl FromItem for WalletChallenge {
    fn from_item(item: &Item) -> DomainResult<Self> {
        let pk = req_s(item, k::PK)?;
        let nonce = pk.strip_prefix(k::CHALLENGE_PREFIX).ok_or_else(|| bad(item, "not a challenge key"))?;
        Ok(WalletChallenge {
            nonce: nonce.to_owned(),
            user: TelegramUserId(req_n(item, k::OWNER)?),
            address: req_s(item, k::ADDRESS)?.parse().map_err(|e: DomainError| bad(item, e))?,
            message: req_s(item, k::MESSAGE)?.to_owned(),
            issued_at: Timestamp(req_n(item, k::ISSUED_AT)?),
            expires_at: Timestamp(req_n(item, k::EXPIRES_AT)?),
            used: req_bool(item, k::USED)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Exec control

fn parse_field<T: FromStr<Err = DomainError>>(item: &Item, name: &str) -> DomainResult<T> {
    req_s(item, name)?.parse().map_err(|e: DomainError| bad(item, e))
}

/// Tolerates an item an operator wrote by hand with only `mode` and `stop`: a missing version or
/// update time reads as 0. An unreadable `mode` or `stop` is an error (the caller then runs DRY).
impl FromItem for ExecControl {
    fn from_item(item: &Item) -> DomainResult<Self> {
        let mode: ExecMode = parse_field(item, k::MODE)?;
        let stop: StopLevel = parse_field(item, k::STOP)?;
        Ok(ExecControl {
            mode,
            stop,
            updated_by: lenient_n(item, k::UPDATED_BY)?.map(TelegramUserId),
            updated_at: Timestamp(lenient_n(item, k::UPDATED_AT)?.unwrap_or(0)),
            version: lenient_n(item, k::VERSION)?.unwrap_or(0),
        })
    }
}

/// Plain attributes, so that operators can read and write the item with the AWS CLI.
pub(crate) fn control_item(c: &ExecControl) -> Item {
    let mut item = key(k::CONTROL.to_owned(), k::EXEC_MODE);
    item.insert(k::MODE.into(), s(c.mode.as_str()));
    item.insert(k::STOP.into(), s(c.stop.as_str()));
    if let Some(by) = c.updated_by {
        item.insert(k::UPDATED_BY.into(), n(by.0));
    }
    item.insert(k::UPDATED_AT.into(), n(c.updated_at.millis()));
    item.insert(k::VERSION.into(), n(c.version));
    item
}

// ---------------------------------------------------------------------------------------------
// Intents, idempotency records, audit entries

/// An intent and the sequence number of its latest audit entry.
pub(crate) struct IntentRow {
    pub intent: Intent,
    pub seq: u64,
}

impl FromItem for IntentRow {
    fn from_item(item: &Item) -> DomainResult<Self> {
        Ok(Self { intent: data(item)?, seq: opt_n(item, k::AUDIT_SEQ)?.unwrap_or(0) })
    }
}

impl FromItem for Intent {
    fn from_item(item: &Item) -> DomainResult<Self> {
        data(item)
    }
}

pub(crate) fn intent_item(i: &Intent, seq: u64) -> DomainResult<Item> {
    let mut item = key(k::intent(&i.id), k::INTENT);
    item.insert(k::GSI1PK.into(), s(k::user(i.user)));
    item.insert(k::GSI1SK.into(), s(k::intent_by_user(i.created_at, &i.id)));
    item.insert(k::STATE.into(), s(i.state.as_str()));
    if i.state.outcome_unknown() {
        // In the sparse list of unresolved intents while SUBMITTED or AMBIGUOUS; every
        // transition puts the whole item, so a resolved intent drops out.
        item.insert(k::GSI2PK.into(), s(k::OPEN_INTENT));
        item.insert(k::GSI2SK.into(), s(k::intent_by_user(i.created_at, &i.id)));
    }
    item.insert(k::AUDIT_SEQ.into(), n(seq));
    item.insert(k::DATA.into(), json(i)?);
    Ok(item)
}

pub(crate) fn idem_item(i: &Intent) -> Item {
    let mut item = key(k::idem(&i.id), k::IDEM);
    item.insert(k::PAYLOAD_HASH.into(), s(i.payload_hash.clone()));
    item.insert(k::CREATED_AT.into(), n(i.created_at.millis()));
    item
}

/// An audit entry and its sequence number within the intent's trail.
pub(crate) struct AuditRow {
    pub entry: AuditEntry,
    pub seq: u64,
}

impl FromItem for AuditRow {
    fn from_item(item: &Item) -> DomainResult<Self> {
        Ok(Self { entry: data(item)?, seq: req_n(item, k::SEQ)? })
    }
}

pub(crate) fn audit_item(e: &AuditEntry, seq: u64) -> DomainResult<Item> {
    let mut item = key(k::intent(&e.intent), &k::audit(e.at, seq));
    item.insert(k::SEQ.into(), n(seq));
    item.insert(k::DATA.into(), json(e)?);
    Ok(item)
}

// ---------------------------------------------------------------------------------------------
// Positions

impl FromItem for Position {
    /// The plain `version` attribute (what conditions test) is the position's version; an item
    /// written before versions has none and reads as 0.
    fn from_item(item: &Item) -> DomainResult<Self> {
        let mut p: Position = data(item)?;
        p.version = opt_n(item, k::VERSION)?.unwrap_or(0);
        Ok(p)
    }
}

/// In gsi2 (`LIVE_POS`) only while live: a closed position's item has no gsi2 attributes.
pub(crate) fn position_item(p: &Position) -> DomainResult<Item> {
    let mut item = key(k::user(p.user), &k::position(&p.id));
    item.insert(k::STATUS.into(), s(p.status.as_str()));
    item.insert(k::VERSION.into(), n(p.version));
    item.insert(k::DATA.into(), json(p)?);
    if p.status.is_live() {
        item.insert(k::GSI2PK.into(), s(k::LIVE_POS));
        item.insert(k::GSI2SK.into(), s(k::live_position(p.opened_at, p.user, &p.id)));
    }
    if p.status == vanta_domain::position::PositionStatus::Closing {
        // The CLOSING positions' own gsi1 partition: the TP/SL tick reads only those.
        item.insert(k::GSI1PK.into(), s(k::CLOSING));
        item.insert(k::GSI1SK.into(), s(k::live_position(p.opened_at, p.user, &p.id)));
    }
    Ok(item)
}

/// A trigger index item: under its position's user, in gsi1 under its partition, ordered by key.
pub(crate) fn trigger_item(p: &Position, e: &vanta_domain::triggers::TriggerEntry) -> Item {
    let mut item = key(k::user(p.user), &k::trigger_item(&p.id, e.partition.kind));
    item.insert(k::GSI1PK.into(), s(k::trigger_partition(&e.partition)));
    item.insert(k::GSI1SK.into(), s(k::trigger_key(e.key, p.user, &p.id)));
    item.insert(k::OWNER.into(), n(p.user));
    item.insert(k::ID.into(), s(p.id.as_str()));
    item
}

/// The position an index item points at.
pub(crate) fn trigger_target(item: &Item) -> DomainResult<(TelegramUserId, PositionId)> {
    let user = TelegramUserId(req_n(item, k::OWNER)?);
    let id = PositionId::parse(req_s(item, k::ID)?).map_err(|e| bad(item, e))?;
    Ok((user, id))
}

// ---------------------------------------------------------------------------------------------
// Signal sources (field by field: the secret is deliberately not `Serialize`)

impl FromItem for SignalSource {
    fn from_item(item: &Item) -> DomainResult<Self> {
        Ok(SignalSource {
            id: SourceId::parse(req_s(item, k::ID)?).map_err(|e| bad(item, e))?,
            owner: TelegramUserId(req_n(item, k::OWNER)?),
            secret: source_secret(item)?,
            tv_token_hash: req_s(item, k::TV_TOKEN_HASH)?.to_owned(),
            active: req_bool(item, k::ACTIVE)?,
            created_at: Timestamp(req_n(item, k::CREATED_AT)?),
            rotated_at: opt_n(item, k::ROTATED_AT)?.map(Timestamp),
        })
    }
}

/// A sealed secret when the item has `enc_v`; otherwise a legacy plain `secret`.
fn source_secret(item: &Item) -> DomainResult<SourceSecret> {
    let Some(version) = opt_n::<u32>(item, k::ENC_V)? else {
        return Ok(SourceSecret::Plain(SecretText::new(req_s(item, k::SECRET)?)));
    };
    let bytes = |name: &str| -> DomainResult<Vec<u8>> {
        match item.get(name) {
            Some(AttributeValue::B(b)) => Ok(b.clone().into_inner()),
            _ => Err(bad(item, format!("{name} is missing or not binary"))),
        }
    };
    Ok(SourceSecret::Sealed(SealedSecret {
        version,
        ciphertext: bytes(k::SECRET_CT)?,
        nonce: bytes(k::SECRET_NONCE)?,
        wrapped_key: bytes(k::SECRET_DK)?,
    }))
}

/// The source's item. Only a sealed secret is ever written: a plain one is refused, so no
/// write path can put a secret in the table in the clear.
pub(crate) fn source_item(src: &SignalSource) -> DomainResult<Item> {
    let SourceSecret::Sealed(sealed) = &src.secret else {
        return Err(DomainError::Internal(format!("source {}: refusing to store a secret that is not sealed", src.id)));
    };
    let mut item = key(k::source(&src.id), k::SOURCE);
    item.insert(k::GSI1PK.into(), s(k::user(src.owner)));
    item.insert(k::GSI1SK.into(), s(k::source(&src.id)));
    item.insert(k::GSI2PK.into(), s(k::tv_token(&src.tv_token_hash)));
    item.insert(k::GSI2SK.into(), s(k::SOURCE));
    item.insert(k::ID.into(), s(src.id.as_str()));
    item.insert(k::OWNER.into(), n(src.owner.0));
    item.insert(k::SECRET_CT.into(), AttributeValue::B(Blob::new(sealed.ciphertext.clone())));
    item.insert(k::SECRET_NONCE.into(), AttributeValue::B(Blob::new(sealed.nonce.clone())));
    item.insert(k::SECRET_DK.into(), AttributeValue::B(Blob::new(sealed.wrapped_key.clone())));
    item.insert(k::ENC_V.into(), n(sealed.version));
    item.insert(k::TV_TOKEN_HASH.into(), s(src.tv_token_hash.clone()));
    item.insert(k::ACTIVE.into(), AttributeValue::Bool(src.active));
    item.insert(k::CREATED_AT.into(), n(src.created_at.millis()));
    if let Some(at) = src.rotated_at {
        item.insert(k::ROTATED_AT.into(), n(at.millis()));
    }
    Ok(item)
}

// ---------------------------------------------------------------------------------------------
// Follows and markers

impl FromItem for Follow {
    fn from_item(item: &Item) -> DomainResult<Self> {
        data(item)
    }
}

pub(crate) fn follow_item(f: &Follow) -> DomainResult<Item> {
    let mut item = key(k::user(f.follower), &k::follow(&f.leader));
    item.insert(k::GSI1PK.into(), s(k::leader(&f.leader)));
    item.insert(k::GSI1SK.into(), s(k::follower(f.follower)));
    item.insert(k::DATA.into(), json(f)?);
    Ok(item)
}

/// `ttl` (epoch seconds) for an item that expires at `at`: rounded up, so DynamoDB never deletes
/// it early.
fn ttl_of(at: Timestamp) -> AttributeValue {
    n(at.millis().saturating_add(999).div_euclid(1000))
}

pub(crate) fn marker_item(mark: &str, expires_at: Timestamp) -> Item {
    let mut item = key(k::marker(mark), k::MARK);
    item.insert(k::EXPIRES_AT.into(), n(expires_at.millis()));
    item.insert(k::TTL.into(), ttl_of(expires_at));
    item
}

/// A fixed rate window that has just counted its first hit.
pub(crate) fn window_item(name: &str, expires_at: Timestamp) -> Item {
    let mut item = key(k::window(name), k::WINDOW);
    item.insert(k::COUNT.into(), n(1));
    item.insert(k::EXPIRES_AT.into(), n(expires_at.millis()));
    item.insert(k::TTL.into(), ttl_of(expires_at));
    item
}

/// A window's expiry and count.
pub(crate) fn window_state(item: &Item) -> DomainResult<(Timestamp, u32)> {
    Ok((Timestamp(req_n(item, k::EXPIRES_AT)?), req_n(item, k::COUNT)?))
}
