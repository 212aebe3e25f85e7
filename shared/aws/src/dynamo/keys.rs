//! Key and attribute names of the single table (see `TABLE.md`). Every key string is built here.

use vanta_domain::ids::{IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::time::Timestamp;
use vanta_domain::user::LeaderRef;

// Key attributes.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2PK: &str = "gsi2pk";
pub const GSI2SK: &str = "gsi2sk";
/// The TTL attribute, epoch seconds.
pub const TTL: &str = "ttl";

// Plain attributes.
pub const DATA: &str = "data";
pub const REV: &str = "rev";
pub const OWNER: &str = "owner";
pub const STATE: &str = "state";
pub const STATUS: &str = "status";
pub const SEQ: &str = "seq";
pub const AUDIT_SEQ: &str = "audit_seq";
pub const PAYLOAD_HASH: &str = "payload_hash";
pub const CREATED_AT: &str = "created_at";
pub const ROTATED_AT: &str = "rotated_at";
pub const ID: &str = "id";
pub const SECRET: &str = "secret";
/// A sealed source secret: AES-256-GCM ciphertext, nonce, wrapped data key, envelope version.
pub const SECRET_CT: &str = "secret_ct";
pub const SECRET_NONCE: &str = "secret_nonce";
pub const SECRET_DK: &str = "secret_dk";
pub const ENC_V: &str = "enc_v";
pub const TV_TOKEN_HASH: &str = "tv_token_hash";
pub const ACTIVE: &str = "active";
pub const EXPIRES_AT: &str = "expires_at";
pub const COUNT: &str = "count";
pub const MODE: &str = "mode";
pub const STOP: &str = "stop";
pub const UPDATED_BY: &str = "updated_by";
pub const UPDATED_AT: &str = "updated_at";
pub const VERSION: &str = "version";
pub const VERIFIED: &str = "verified";
pub const VERIFIED_AT: &str = "verified_at";
pub const ADDRESS: &str = "address";
pub const MESSAGE: &str = "message";
pub const ISSUED_AT: &str = "issued_at";
pub const USED: &str = "used";

// Sort keys and fixed partition keys.
pub const PROFILE: &str = "PROFILE";
pub const CLAIM: &str = "CLAIM";
pub const CONTROL: &str = "CONTROL";
pub const EXEC_MODE: &str = "EXEC_MODE";
/// Sort key of the current FLATTEN stop's run record under [`JOBS`].
pub const FLATTEN_RUN: &str = "FLATTEN";
pub const IDEM: &str = "IDEM";
pub const INTENT: &str = "INTENT";
pub const SOURCE: &str = "SOURCE";
pub const MARK: &str = "MARK";
pub const WINDOW: &str = "WINDOW";
pub const LIVE_POS: &str = "LIVE_POS";
/// gsi2 partition of intents whose order outcome is not known yet (SUBMITTED, AMBIGUOUS).
pub const OPEN_INTENT: &str = "OPEN_INTENT";
/// gsi1 partition of user profiles with a bound wallet.
pub const WALLET_USER: &str = "WALLET_USER";
pub const CHALLENGE: &str = "CHALLENGE";
/// Sort-key prefix of the scheduled jobs' heartbeats under [`JOBS`].
pub const HEARTBEAT_PREFIX: &str = "HEARTBEAT#";
/// Partition of the state the functions keep for the schedules: heartbeats, the FLATTEN run
/// record, the trigger pair set and the index backfill marker. It is not `CONTROL`, which only the
/// bot and the operator write: IAM tells the two apart by partition key (`dynamodb:LeadingKeys`)
/// and cannot see the sort key. Items written under `CONTROL` before are still read there.
pub const JOBS: &str = "JOBS";

// Sort-key prefixes.
pub const INTENT_PREFIX: &str = "INTENT#";
pub const AUDIT_PREFIX: &str = "AUDIT#";
pub const POS_PREFIX: &str = "POS#";
pub const SOURCE_PREFIX: &str = "SOURCE#";
pub const FOLLOW_PREFIX: &str = "FOLLOW#";
pub const CHALLENGE_PREFIX: &str = "CHALLENGE#";

/// A timestamp as 16 zero-padded digits, so that string order is time order. Times before 1970
/// (never produced by the clock) sort as 0.
pub fn ms16(t: Timestamp) -> String {
    format!("{:016}", t.millis().max(0))
}

pub fn user(id: TelegramUserId) -> String {
    format!("USER#{id}")
}

/// The address claim's partition key and the user's gsi2 partition key: lower-case hex.
pub fn addr(a: &TraderAddress) -> String {
    format!("ADDR#{}", a.key())
}

pub fn idem(id: &IntentId) -> String {
    format!("IDEM#{id}")
}

pub fn intent(id: &IntentId) -> String {
    format!("INTENT#{id}")
}

/// gsi1 sort key of an intent: newest first with `ScanIndexForward = false`.
pub fn intent_by_user(created_at: Timestamp, id: &IntentId) -> String {
    format!("{INTENT_PREFIX}{}#{id}", ms16(created_at))
}

/// An audit entry's sort key: time, then the intent's audit sequence number (unique per intent),
/// so entries written in the same millisecond never collide.
pub fn audit(at: Timestamp, seq: u64) -> String {
    format!("{AUDIT_PREFIX}{}#{seq:010}", ms16(at))
}

pub fn position(id: &PositionId) -> String {
    format!("{POS_PREFIX}{id}")
}

/// gsi2 sort key of a live position.
pub fn live_position(opened_at: Timestamp, user: TelegramUserId, id: &PositionId) -> String {
    format!("{}#{user}#{id}", ms16(opened_at))
}

pub fn source(id: &SourceId) -> String {
    format!("{SOURCE_PREFIX}{id}")
}

pub fn tv_token(hash: &str) -> String {
    format!("TVTOKEN#{hash}")
}

pub fn follow(leader: &LeaderRef) -> String {
    format!("{FOLLOW_PREFIX}{}", leader.key())
}

pub fn leader(leader: &LeaderRef) -> String {
    format!("LEADER#{}", leader.key())
}

pub fn follower(id: TelegramUserId) -> String {
    format!("FOLLOWER#{id}")
}

/// A wallet challenge's partition key.
pub fn challenge(nonce: &str) -> String {
    format!("{CHALLENGE_PREFIX}{nonce}")
}

/// gsi1 sort key of a challenge under its user: newest first with `ScanIndexForward = false`.
pub fn challenge_by_user(issued_at: Timestamp, nonce: &str) -> String {
    format!("{CHALLENGE_PREFIX}{}#{nonce}", ms16(issued_at))
}

pub fn marker(key: &str) -> String {
    format!("MARK#{key}")
}

pub fn window(key: &str) -> String {
    format!("WINDOW#{key}")
}

// ---------------------------------------------------------------------------------------------
// The trigger index (see `TABLE.md`, "Trigger index")

/// gsi1 partition of the CLOSING positions (the position items themselves, while CLOSING).
pub const CLOSING: &str = "CLOSING";
/// Sort key, under [`JOBS`], of the trigger index's backfill marker.
pub const TRIGGER_INDEX: &str = "TRIGGER_INDEX";
/// Sort key, under [`JOBS`], of the set of pairs live positions were recorded on.
pub const TRIGGER_PAIRS: &str = "TRIGGER_PAIRS";
/// Sort key of a trail book under its partition.
pub const TRAIL_BOOK: &str = "BOOK";
pub const PAIRS: &str = "pairs";
pub const CURSOR: &str = "cursor";
pub const TRIG_PREFIX: &str = "TRIG#";

/// An index item's sort key under its position's user: one per position and kind.
pub fn trigger_item(id: &PositionId, kind: vanta_domain::triggers::TriggerKind) -> String {
    format!("{TRIG_PREFIX}{id}#{}", kind.as_str())
}

/// An index partition (gsi1): pair, side, kind, and for a trail its epoch.
pub fn trigger_partition(p: &vanta_domain::triggers::TriggerPartition) -> String {
    match p.kind {
        vanta_domain::triggers::TriggerKind::Trail => {
            format!("{TRIG_PREFIX}{}#{}#{}#{}", p.pair, p.side.as_str(), p.kind.as_str(), p.epoch)
        }
        _ => format!("{TRIG_PREFIX}{}#{}#{}", p.pair, p.side.as_str(), p.kind.as_str()),
    }
}

/// An index entry's gsi1 sort key: the key as 20 digits (string order is numeric order), then
/// the position.
pub fn trigger_key(key: u64, user: TelegramUserId, id: &PositionId) -> String {
    format!("{key:020}#{user}#{id}")
}

/// The lowest sort key of entries with `key` or more.
pub fn trigger_from(key: u64) -> String {
    format!("{key:020}")
}

/// A bound above every sort key of entries with `key` or less (`$` sorts after `#`).
pub fn trigger_through(key: u64) -> String {
    format!("{key:020}$")
}

/// A trail book's partition key.
pub fn trail_book(pair: &vanta_domain::market::PairSymbol, side: vanta_domain::market::Side) -> String {
    format!("TRAILBOOK#{pair}#{}", side.as_str())
}
