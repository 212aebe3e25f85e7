//! DynamoDB adapters for the direct route's ports ([`NonceLease`], [`TxStore`]), on the single
//! table (`pk`/`sk` strings).
//!
//! Items:
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `NONCE#<address>` | `NONCE` | `next`: the counter (the next never-issued nonce) |
//! | `NONCE#<address>` | `LEASE#<nonce:020>` | a held nonce: `token`, `expires_at` (ms) |
//! | `NONCE#<address>` | `FREE#<nonce:020>` | a nonce given back, to be reused first |
//! | `TX#<id>` | `TX` | the record: state, nonce, `attempt_count`, `history`, `notes`, receipt |
//! | `TX#<id>` | `ATTEMPT#<n:06>` | one signed attempt (hash, nonce, fees, gas, at) |
//!
//! Concurrency (many Lambda instances): every write is conditional, and no item is read, changed
//! and written back without a condition on what was read.
//!
//! - Taking a counter value and writing its lease is one transaction: `Update NONCE` on
//!   `next = :seen` (compare-and-set; `attribute_not_exists` for the first) plus `Put LEASE#n`
//!   on `attribute_not_exists`. A lost race cancels both; the loser re-reads and retries with
//!   jitter. So a value is never issued twice, and never issued without its lease (no silent
//!   gap if the process dies right after).
//! - Reusing a given-back nonce is one transaction: `Delete FREE#n` (must exist) plus
//!   `Put LEASE#n` (must not exist): exactly one process wins it.
//! - Reclaiming an expired lease is `Delete LEASE#n` on `token = :seen` plus `Put FREE#n`.
//! - Record transitions are `Update TX` on `state = :expected` (and `attempt_count = :seen`
//!   when an attempt comes along, written in the same transaction with `Put ATTEMPT#n`).
//!
//! No item of these has a TTL: a lease that vanished by TTL would lose its nonce silently.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use vanta_domain::direct::{
    DEFAULT_LEASE_TTL, Lease, NonceLease, TxAttempt, TxChange, TxEvent, TxNote, TxReceiptInfo, TxRecord, TxState, TxStore, check_change,
    new_token,
};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::time::{Clock, Timestamp};

use crate::dynamo::codec::{Item, key, n, opt_n, req_n, req_s, s};
use crate::dynamo::keys::{PK, SK};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// DynamoDB errors map as in the store adapter: a failed condition is `Conflict` (the caller
/// re-reads), what may pass on retry is `Unavailable`, the rest `Internal`.
fn sdk_error<E>(op: &str, e: SdkError<E>) -> DomainError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    crate::dynamo::errors::sdk(op, e)
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> DomainError {
    DomainError::Internal(format!("cannot build a DynamoDB request: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Attribute helpers (the rest is the table's codec, `crate::dynamo::codec`)
// ---------------------------------------------------------------------------------------------

fn bad(what: &str) -> DomainError {
    DomainError::Internal(format!("malformed item: {what}"))
}

fn parse<T: FromStr>(text: &str, what: &str) -> DomainResult<T> {
    text.parse().map_err(|_| bad(what))
}

fn get_list<'a>(item: &'a Item, name: &str) -> DomainResult<&'a [AttributeValue]> {
    match item.get(name) {
        None => Ok(&[]),
        Some(AttributeValue::L(v)) => Ok(v),
        _ => Err(bad(name)),
    }
}

fn as_map<'a>(v: &'a AttributeValue, what: &str) -> DomainResult<&'a Item> {
    match v {
        AttributeValue::M(m) => Ok(m),
        _ => Err(bad(what)),
    }
}

/// Queries a whole partition (strongly consistent, all pages).
async fn query_partition(client: &Client, table: &str, pk: &str) -> DomainResult<Vec<Item>> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(items),
        }
    }
}

async fn transact(client: &Client, items: Vec<TransactWriteItem>) -> DomainResult<()> {
    client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
        .map_err(|e| DomainError::from(crate::dynamo::errors::transact("TransactWriteItems", e)))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Nonce lease
// ---------------------------------------------------------------------------------------------

/// The DynamoDB nonce lease, shared by every process that signs for an address.
#[derive(Clone)]
pub struct DynamoNonceLease {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    max_rounds: u32,
}

impl DynamoNonceLease {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self { client, table: table.into(), clock, ttl: DEFAULT_LEASE_TTL, max_rounds: 64 }
    }

    /// How long a lease is held before others may reclaim it.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn pk(address: Address) -> String {
        format!("NONCE#{}", alloy_primitives::hex::encode_prefixed(address.as_slice()))
    }

    fn lease_sk(nonce: u64) -> String {
        format!("LEASE#{nonce:020}")
    }

    fn free_sk(nonce: u64) -> String {
        format!("FREE#{nonce:020}")
    }

    fn delete_lease(&self, pk: &str, nonce: u64, token: &str) -> DomainResult<TransactWriteItem> {
        let d = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), &Self::lease_sk(nonce))))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(d).build())
    }

    fn put_free(&self, pk: &str, nonce: u64) -> DomainResult<TransactWriteItem> {
        let mut item = key(pk.to_owned(), &Self::free_sk(nonce));
        item.insert("nonce".into(), n(nonce));
        let p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(p).build())
    }

    fn put_lease(&self, pk: &str, lease: &Lease) -> DomainResult<TransactWriteItem> {
        let mut item = key(pk.to_owned(), &Self::lease_sk(lease.nonce));
        item.insert("nonce".into(), n(lease.nonce));
        item.insert("token".into(), s(lease.token.clone()));
        item.insert("expires_at".into(), n(lease.expires_at.millis()));
        let p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(p).build())
    }

    fn new_lease(&self, address: Address, nonce: u64) -> Lease {
        Lease { address, nonce, token: new_token(), expires_at: self.clock.now().plus(self.ttl) }
    }

    /// Tries to turn the given-back `nonce` into a lease; false if someone else took it.
    async fn take_free(&self, pk: &str, lease: &Lease) -> DomainResult<bool> {
        let d = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), &Self::free_sk(lease.nonce))))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(build_error)?;
        let items = vec![TransactWriteItem::builder().delete(d).build(), self.put_lease(pk, lease)?];
        match transact(&self.client, items).await {
            Ok(()) => Ok(true),
            Err(DomainError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Tries to take the counter value `nonce` (having seen the counter at `seen`); false if
    /// another process moved the counter first.
    async fn take_next(&self, pk: &str, seen: Option<u64>, lease: &Lease) -> DomainResult<bool> {
        let next = lease.nonce.checked_add(1).ok_or_else(|| DomainError::Internal("nonce overflow".into()))?;
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), "NONCE")))
            .update_expression("SET #next = :new")
            .expression_attribute_names("#next", "next")
            .expression_attribute_values(":new", n(next));
        u = match seen {
            None => u.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK),
            Some(v) => u.condition_expression("#next = :seen").expression_attribute_values(":seen", n(v)),
        };
        let items = vec![TransactWriteItem::builder().update(u.build().map_err(build_error)?).build(), self.put_lease(pk, lease)?];
        match transact(&self.client, items).await {
            Ok(()) => Ok(true),
            Err(DomainError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes an item, ignoring a failed condition (someone else got there first).
    async fn delete_quietly(&self, item: DomainResult<TransactWriteItem>) -> DomainResult<()> {
        match transact(&self.client, vec![item?]).await {
            Ok(()) | Err(DomainError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// What a partition read found.
#[derive(Default)]
struct NonceView {
    next: Option<u64>,
    free: Vec<u64>,
    /// (nonce, token, expires_at)
    leases: Vec<(u64, String, Timestamp)>,
}

fn nonce_view(items: &[Item]) -> DomainResult<NonceView> {
    let mut v = NonceView::default();
    for item in items {
        let sk = req_s(item, SK)?;
        if sk == "NONCE" {
            v.next = opt_n(item, "next")?;
        } else if sk.starts_with("FREE#") {
            v.free.push(req_n(item, "nonce")?);
        } else if sk.starts_with("LEASE#") {
            v.leases.push((req_n(item, "nonce")?, req_s(item, "token")?.to_string(), Timestamp(req_n(item, "expires_at")?)));
        }
    }
    v.free.sort_unstable();
    Ok(v)
}

#[async_trait]
impl NonceLease for DynamoNonceLease {
    async fn acquire(&self, address: Address, chain_pending: u64) -> DomainResult<Lease> {
        let pk = Self::pk(address);
        for round in 0..self.max_rounds {
            let view = nonce_view(&query_partition(&self.client, &self.table, &pk).await?)?;
            let now = self.clock.now();
            let mut free = view.free.clone();
            // Expired leases: the holder died or stalled. Reclaim (or drop if the chain used it).
            for (nonce, token, expires_at) in &view.leases {
                if *expires_at > now {
                    continue;
                }
                if *nonce < chain_pending {
                    self.delete_quietly(self.delete_lease(&pk, *nonce, token)).await?;
                } else {
                    let items = vec![self.delete_lease(&pk, *nonce, token)?, self.put_free(&pk, *nonce)?];
                    match transact(&self.client, items).await {
                        Ok(()) => {
                            tracing::warn!(%address, nonce, "reclaimed an expired nonce lease");
                            free.push(*nonce);
                        }
                        Err(DomainError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            free.sort_unstable();
            free.dedup();
            // Given back, lowest first; those the chain has consumed are dropped.
            for nonce in free {
                if nonce < chain_pending {
                    let d = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(pk.clone(), &Self::free_sk(nonce))))
                        .build()
                        .map_err(build_error)
                        .map(|d| TransactWriteItem::builder().delete(d).build());
                    self.delete_quietly(d).await?;
                    continue;
                }
                let lease = self.new_lease(address, nonce);
                if self.take_free(&pk, &lease).await? {
                    return Ok(lease);
                }
            }
            // The counter, moved past the chain if the chain is ahead.
            let nonce = view.next.unwrap_or(0).max(chain_pending);
            let lease = self.new_lease(address, nonce);
            if self.take_next(&pk, view.next, &lease).await? {
                return Ok(lease);
            }
            // Lost a race: back off a little (jittered, growing) and look again.
            let cap = 5u64.saturating_mul(u64::from(round.min(10)).saturating_add(1));
            let ms = rand::random_range(1..=cap);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Err(DomainError::Unavailable(format!("no nonce for {address} after {} contended rounds", self.max_rounds)))
    }

    async fn release_unused(&self, lease: &Lease) -> DomainResult<()> {
        let pk = Self::pk(lease.address);
        let items = vec![self.delete_lease(&pk, lease.nonce, &lease.token)?, self.put_free(&pk, lease.nonce)?];
        match transact(&self.client, items).await {
            // Not ours any more (reclaimed after expiry): nothing to give back.
            Ok(()) | Err(DomainError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn confirm(&self, lease: &Lease) -> DomainResult<()> {
        let pk = Self::pk(lease.address);
        match transact(&self.client, vec![self.delete_lease(&pk, lease.nonce, &lease.token)?]).await {
            Ok(()) => Ok(()),
            Err(DomainError::Conflict(_)) => {
                Err(DomainError::Conflict(format!("the lease on nonce {} expired and was reclaimed", lease.nonce)))
            }
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transaction records
// ---------------------------------------------------------------------------------------------

/// The DynamoDB transaction-record store.
#[derive(Clone, Debug)]
pub struct DynamoTxStore {
    client: Client,
    table: String,
}

impl DynamoTxStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn pk(id: &str) -> String {
        format!("TX#{id}")
    }

    fn attempt_sk(n: u32) -> String {
        format!("ATTEMPT#{n:06}")
    }

    fn put_attempt(&self, id: &str, a: &TxAttempt) -> DomainResult<TransactWriteItem> {
        let mut item = key(Self::pk(id), &Self::attempt_sk(a.n));
        item.insert("n".into(), n(a.n));
        item.insert("hash".into(), s(a.hash.to_string()));
        item.insert("nonce".into(), n(a.nonce));
        item.insert("gas_limit".into(), n(a.gas_limit));
        item.insert("max_fee_per_gas".into(), n(a.max_fee_per_gas));
        item.insert("max_priority_fee_per_gas".into(), n(a.max_priority_fee_per_gas));
        item.insert("at".into(), n(a.at.millis()));
        let p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(p).build())
    }

    /// `Conflict` stays `Conflict` if the record exists, becomes `NotFound` if it does not.
    async fn explain(&self, id: &str, e: DomainError) -> DomainError {
        match e {
            DomainError::Conflict(msg) => match self.get(id).await {
                Ok(None) => DomainError::NotFound(format!("transaction {id}")),
                Ok(Some(rec)) => DomainError::Conflict(format!("transaction {id} is {} ({msg})", rec.state)),
                Err(_) => DomainError::Conflict(msg),
            },
            other => other,
        }
    }
}

fn event_value(e: &TxEvent) -> AttributeValue {
    let mut m = HashMap::from([
        ("at".to_string(), n(e.at.millis())),
        ("from".to_string(), s(e.from.as_str())),
        ("to".to_string(), s(e.to.as_str())),
    ]);
    if let Some(note) = &e.note {
        m.insert("note".into(), s(note.clone()));
    }
    AttributeValue::M(m)
}

fn note_value(note: &TxNote) -> AttributeValue {
    AttributeValue::M(HashMap::from([("at".to_string(), n(note.at.millis())), ("text".to_string(), s(note.text.clone()))]))
}

fn attempt_from(item: &Item) -> DomainResult<TxAttempt> {
    Ok(TxAttempt {
        n: req_n(item, "n")?,
        hash: parse::<B256>(req_s(item, "hash")?, "hash")?,
        nonce: req_n(item, "nonce")?,
        gas_limit: req_n(item, "gas_limit")?,
        max_fee_per_gas: req_n(item, "max_fee_per_gas")?,
        max_priority_fee_per_gas: req_n(item, "max_priority_fee_per_gas")?,
        at: Timestamp(req_n(item, "at")?),
    })
}

fn record_from(item: &Item, mut attempts: Vec<TxAttempt>) -> DomainResult<TxRecord> {
    attempts.sort_by_key(|a| a.n);
    let history = get_list(item, "history")?
        .iter()
        .map(|v| {
            let m = as_map(v, "history")?;
            Ok(TxEvent {
                at: Timestamp(req_n(m, "at")?),
                from: req_s(m, "from")?.parse()?,
                to: req_s(m, "to")?.parse()?,
                note: m.get("note").and_then(|v| v.as_s().ok()).cloned(),
            })
        })
        .collect::<DomainResult<Vec<_>>>()?;
    let notes = get_list(item, "notes")?
        .iter()
        .map(|v| {
            let m = as_map(v, "notes")?;
            Ok(TxNote { at: Timestamp(req_n(m, "at")?), text: req_s(m, "text")?.to_string() })
        })
        .collect::<DomainResult<Vec<_>>>()?;
    let receipt = match item.get("receipt_hash") {
        Some(AttributeValue::S(h)) => Some(TxReceiptInfo {
            hash: parse(h, "receipt_hash")?,
            block_number: req_n(item, "receipt_block")?,
            gas_used: req_n(item, "receipt_gas_used")?,
            effective_gas_price: req_n(item, "receipt_gas_price")?,
            success: matches!(item.get("receipt_success"), Some(AttributeValue::Bool(true))),
        }),
        _ => None,
    };
    Ok(TxRecord {
        id: req_s(item, "id")?.to_string(),
        chain_id: req_n(item, "chain_id")?,
        from: parse::<Address>(req_s(item, "from")?, "from")?,
        to: parse::<Address>(req_s(item, "to")?, "to")?,
        value: parse::<U256>(req_s(item, "value")?, "value")?,
        data: parse::<Bytes>(req_s(item, "data")?, "data")?,
        state: req_s(item, "state")?.parse()?,
        nonce: opt_n(item, "nonce")?,
        attempts,
        history,
        notes,
        receipt,
        created_at: Timestamp(req_n(item, "created_at")?),
        updated_at: Timestamp(req_n(item, "updated_at")?),
    })
}

#[async_trait]
impl TxStore for DynamoTxStore {
    async fn create(&self, r: &TxRecord) -> DomainResult<()> {
        if r.state != TxState::Created || !r.attempts.is_empty() {
            return Err(DomainError::Internal("a transaction record is created in CREATED without attempts".into()));
        }
        let mut item = key(Self::pk(&r.id), "TX");
        item.insert("id".into(), s(r.id.clone()));
        item.insert("chain_id".into(), n(r.chain_id));
        item.insert("from".into(), s(r.from.to_string()));
        item.insert("to".into(), s(r.to.to_string()));
        item.insert("value".into(), s(r.value.to_string()));
        item.insert("data".into(), s(r.data.to_string()));
        item.insert("state".into(), s(r.state.as_str()));
        item.insert("attempt_count".into(), n(0));
        item.insert("history".into(), AttributeValue::L(Vec::new()));
        item.insert("notes".into(), AttributeValue::L(Vec::new()));
        item.insert("created_at".into(), n(r.created_at.millis()));
        item.insert("updated_at".into(), n(r.updated_at.millis()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))
            .map_err(|e| match e {
                DomainError::Conflict(_) => DomainError::Conflict(format!("transaction {} exists", r.id)),
                other => other,
            })?;
        Ok(())
    }

    async fn get(&self, id: &str) -> DomainResult<Option<TxRecord>> {
        let items = query_partition(&self.client, &self.table, &Self::pk(id)).await?;
        let mut head = None;
        let mut attempts = Vec::new();
        for item in &items {
            let sk = req_s(item, SK)?;
            if sk == "TX" {
                head = Some(item);
            } else if sk.starts_with("ATTEMPT#") {
                attempts.push(attempt_from(item)?);
            }
        }
        head.map(|h| record_from(h, attempts)).transpose()
    }

    async fn transition(&self, id: &str, expected: TxState, change: &TxChange) -> DomainResult<()> {
        if !expected.can_move_to(change.to) {
            return Err(DomainError::Internal(format!("transaction state {expected} cannot move to {}", change.to)));
        }
        let event = TxEvent { at: change.at, from: expected, to: change.to, note: change.note.clone() };
        let mut sets = vec!["#state = :to", "#updated_at = :at", "#history = list_append(#history, :event)"];
        let mut names = HashMap::from([
            ("#state".to_string(), "state".to_string()),
            ("#updated_at".to_string(), "updated_at".to_string()),
            ("#history".to_string(), "history".to_string()),
        ]);
        let mut values = HashMap::from([
            (":to".to_string(), s(change.to.as_str())),
            (":expected".to_string(), s(expected.as_str())),
            (":at".to_string(), n(change.at.millis())),
            (":event".to_string(), AttributeValue::L(vec![event_value(&event)])),
        ]);
        let mut condition = "#state = :expected".to_string();
        if let Some(nonce) = change.nonce {
            sets.push("#nonce = :nonce");
            names.insert("#nonce".into(), "nonce".into());
            values.insert(":nonce".into(), n(nonce));
        }
        if let Some(r) = &change.receipt {
            sets.extend([
                "receipt_hash = :rh",
                "receipt_block = :rb",
                "receipt_gas_used = :rg",
                "receipt_gas_price = :rp",
                "receipt_success = :rs",
            ]);
            values.insert(":rh".into(), s(r.hash.to_string()));
            values.insert(":rb".into(), n(r.block_number));
            values.insert(":rg".into(), n(r.gas_used));
            values.insert(":rp".into(), n(r.effective_gas_price));
            values.insert(":rs".into(), AttributeValue::Bool(r.success));
        }
        let mut items = Vec::new();
        if let Some(a) = &change.attempt {
            check_change(usize::try_from(a.n.saturating_sub(1)).unwrap_or(usize::MAX), expected, change)?;
            sets.push("#count = :n");
            condition.push_str(" AND #count = :prev");
            names.insert("#count".into(), "attempt_count".into());
            values.insert(":n".into(), n(a.n));
            values.insert(":prev".into(), n(a.n.saturating_sub(1)));
            items.push(self.put_attempt(id, a)?);
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(Self::pk(id), "TX")))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(build_error)?;
        items.insert(0, TransactWriteItem::builder().update(update).build());
        match transact(&self.client, items).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain(id, e).await),
        }
    }

    async fn add_attempt(&self, id: &str, expected: TxState, a: &TxAttempt) -> DomainResult<()> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(Self::pk(id), "TX")))
            .update_expression("SET #count = :n, #updated_at = :at")
            .condition_expression("#state = :expected AND #count = :prev")
            .expression_attribute_names("#count", "attempt_count")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":n", n(a.n))
            .expression_attribute_values(":prev", n(a.n.saturating_sub(1)))
            .expression_attribute_values(":at", n(a.at.millis()))
            .expression_attribute_values(":expected", s(expected.as_str()))
            .build()
            .map_err(build_error)?;
        let items = vec![TransactWriteItem::builder().update(update).build(), self.put_attempt(id, a)?];
        match transact(&self.client, items).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain(id, e).await),
        }
    }

    async fn annotate(&self, id: &str, note: &TxNote) -> DomainResult<()> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(Self::pk(id), "TX")))
            .update_expression("SET #notes = list_append(if_not_exists(#notes, :empty), :note)")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#notes", "notes")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":note", AttributeValue::L(vec![note_value(note)]))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error("UpdateItem", e) {
                DomainError::Conflict(_) => Err(DomainError::NotFound(format!("transaction {id}"))),
                other => Err(other),
            },
        }
    }
}
