//! The DynamoDB adapter for the [`Store`](vanta_domain::ports::Store) port: one table, keys and
//! indexes as described in `TABLE.md` next to this file (entities, key patterns, GSIs, TTL, and
//! which writes are conditional or transactional, and why).
//!
//! Behaviour matches `vanta_domain::memory::MemoryStore` (the twin, feature `test-fakes`),
//! including which failures are `Conflict`, `NotFound` and `Forbidden`. SDK errors are mapped in `errors`; items are mapped
//! in `codec`; key strings are built in `keys`.
//!
#![doc = include_str!("TABLE.md")]

pub(crate) mod codec;
pub(crate) mod errors;
mod intents;
pub(crate) mod keys;
mod limits;
mod market;
mod others;
pub mod partitions;
mod positions;
mod recon;
mod triggers;
mod users;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    Put, ScalarAttributeType, SseSpecification, TimeToLiveSpecification, TransactWriteItem, Update,
};
use vanta_domain::{DomainError, DomainResult};

use codec::{FromItem, Item};
use errors::TxError;

/// The whole store on one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// `Limit` of each query page (None: DynamoDB's 1 MB pages). Tests set it low to exercise
    /// pagination.
    page_limit: Option<i32>,
    /// Pairs this process has recorded in the trigger pair set (each is written once).
    known_pairs: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), page_limit: None, known_pairs: Default::default() }
    }

    /// Caps every query page at `limit` items (at least 1). Results are unchanged; only the number
    /// of round trips grows. For tests of the pagination loop.
    pub fn with_page_limit(mut self, limit: i32) -> Self {
        self.page_limit = Some(limit.max(1));
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    // -----------------------------------------------------------------------------------------
    // Single-item operations

    /// A strongly consistent read of one item.
    async fn get(&self, pk: String, sk: &str) -> DomainResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(codec::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| errors::sdk("GetItem", e))?;
        Ok(out.item)
    }

    async fn get_as<T: FromItem>(&self, pk: String, sk: &str) -> DomainResult<Option<T>> {
        self.get(pk, sk).await?.as_ref().map(T::from_item).transpose()
    }

    /// Puts `item`; with a condition, a failed condition is `Conflict`.
    async fn put(&self, item: Item, cond: Option<Expr>) -> DomainResult<()> {
        let cond = cond.unwrap_or_default();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(cond.text())
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .send()
            .await
            .map_err(|e| errors::sdk("PutItem", e))?;
        Ok(())
    }

    /// Applies `update` to an item, under `cond`; a failed condition is `Conflict`.
    async fn update(&self, key: Item, update: Expr, cond: Expr) -> DomainResult<()> {
        let all = update.merge(cond.clone());
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update.text)
            .set_condition_expression(cond.text())
            .set_expression_attribute_names(all.names())
            .set_expression_attribute_values(all.values())
            .send()
            .await
            .map_err(|e| errors::sdk("UpdateItem", e))?;
        Ok(())
    }

    /// Deletes an item; true if it existed.
    async fn delete(&self, key: Item) -> DomainResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| errors::sdk("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    // -----------------------------------------------------------------------------------------
    // Transactions

    fn tx_put(&self, item: Item, cond: Option<Expr>) -> DomainResult<TransactWriteItem> {
        let cond = cond.unwrap_or_default();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(cond.text())
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn tx_update(&self, key: Item, update: Expr, cond: Expr) -> DomainResult<TransactWriteItem> {
        let all = update.merge(cond.clone());
        let upd = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update.text)
            .set_condition_expression(cond.text())
            .set_expression_attribute_names(all.names())
            .set_expression_attribute_values(all.values())
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(upd).build())
    }

    fn tx_delete(&self, key: Item, cond: Expr) -> DomainResult<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_condition_expression(cond.text())
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values())
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// All or nothing. The SDK sends a client request token, so its own retries of the same call
    /// are idempotent for ten minutes.
    async fn transact(&self, op: &str, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(|e| errors::transact(op, e))?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    /// Every item a query matches, following `LastEvaluatedKey` (or up to `q.max`).
    async fn query(&self, q: Query) -> DomainResult<Vec<Item>> {
        let (pk_attr, sk_attr) = match q.index {
            None => (keys::PK, keys::SK),
            Some(keys::GSI1) => (keys::GSI1PK, keys::GSI1SK),
            Some(_) => (keys::GSI2PK, keys::GSI2SK),
        };
        let mut names = HashMap::from([("#pk".to_owned(), pk_attr.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(q.pk.clone()))]);
        let mut cond = "#pk = :pk".to_owned();
        if let Some(prefix) = &q.sk_prefix {
            cond.push_str(" AND begins_with(#sk, :prefix)");
            names.insert("#sk".into(), sk_attr.into());
            values.insert(":prefix".into(), AttributeValue::S(prefix.clone()));
        }
        if let Some((op, bound)) = &q.sk_range {
            cond.push_str(&format!(" AND #sk {} :bound", op.as_str()));
            names.insert("#sk".into(), sk_attr.into());
            values.insert(":bound".into(), AttributeValue::S(bound.clone()));
        }
        let mut out: Vec<Item> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let remaining = q.max.map(|m| m.saturating_sub(out.len()));
            if remaining == Some(0) {
                break;
            }
            let limit = match (remaining.map(|r| i32::try_from(r).unwrap_or(i32::MAX)), self.page_limit) {
                (Some(r), Some(p)) => Some(r.min(p)),
                (r, p) => r.or(p),
            };
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(q.index.map(str::to_owned))
                .key_condition_expression(&cond)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(q.forward)
                // Base-table reads are strongly consistent; GSIs cannot be.
                .consistent_read(q.index.is_none())
                .set_limit(limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| errors::sdk("Query", e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        if let Some(m) = q.max {
            out.truncate(m);
        }
        Ok(out)
    }

    async fn query_as<T: FromItem>(&self, q: Query) -> DomainResult<Vec<T>> {
        self.query(q).await?.iter().map(T::from_item).collect()
    }
}

/// A key-condition query: partition key equal, optionally sort key `begins_with`.
struct Query {
    /// None: the base table; else `gsi1` or `gsi2`.
    index: Option<&'static str>,
    pk: String,
    sk_prefix: Option<String>,
    /// A sort-key bound (with or instead of the prefix).
    sk_range: Option<(SkOp, String)>,
    forward: bool,
    max: Option<usize>,
}

impl Query {
    fn table(pk: String) -> Self {
        Self { index: None, pk, sk_prefix: None, sk_range: None, forward: true, max: None }
    }
    fn gsi1(pk: String) -> Self {
        Self { index: Some(keys::GSI1), ..Self::table(pk) }
    }
    fn gsi2(pk: String) -> Self {
        Self { index: Some(keys::GSI2), ..Self::table(pk) }
    }
    fn prefix(mut self, p: impl Into<String>) -> Self {
        self.sk_prefix = Some(p.into());
        self
    }
    /// Only sort keys `op` `bound`.
    fn bound(mut self, op: SkOp, bound: impl Into<String>) -> Self {
        self.sk_range = Some((op, bound.into()));
        self
    }
    fn newest_first(mut self) -> Self {
        self.forward = false;
        self
    }
    fn max(mut self, n: usize) -> Self {
        self.max = Some(n);
        self
    }
}

/// A sort-key comparison of a [`Query`].
#[derive(Clone, Copy, Debug)]
enum SkOp {
    AtLeast,
    Below,
    After,
}

impl SkOp {
    fn as_str(self) -> &'static str {
        match self {
            SkOp::AtLeast => ">=",
            SkOp::Below => "<",
            SkOp::After => ">",
        }
    }
}

/// A condition or update expression with its placeholders.
#[derive(Clone, Default)]
struct Expr {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }
    /// `#placeholder` → attribute name.
    fn name(mut self, placeholder: &str, attr: &str) -> Self {
        self.names.insert(placeholder.to_owned(), attr.to_owned());
        self
    }
    /// `:placeholder` → value.
    fn value(mut self, placeholder: &str, v: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), v);
        self
    }
    /// Both expressions' placeholders, for a request that carries both (an update and its
    /// condition share one set of placeholder maps).
    fn merge(&self, other: Expr) -> Expr {
        let mut all = self.clone();
        all.text = format!("{} {}", self.text, other.text);
        all.names.extend(other.names);
        all.values.extend(other.values);
        all
    }
    fn text(&self) -> Option<String> {
        (!self.text.is_empty()).then(|| self.text.clone())
    }
    // DynamoDB refuses unused placeholders and empty placeholder maps: send only what the text
    // uses, and nothing when that is nothing.
    fn names(&self) -> Option<HashMap<String, String>> {
        let used: HashMap<_, _> = self.names.iter().filter(|(p, _)| uses(&self.text, p)).map(|(p, a)| (p.clone(), a.clone())).collect();
        (!used.is_empty()).then_some(used)
    }
    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        let used: HashMap<_, _> = self.values.iter().filter(|(p, _)| uses(&self.text, p)).map(|(p, v)| (p.clone(), v.clone())).collect();
        (!used.is_empty()).then_some(used)
    }
}

/// Whether `text` contains the placeholder `p` as a whole token (`:seq` is not in `:seq2`).
fn uses(text: &str, p: &str) -> bool {
    text.match_indices(p)
        .any(|(i, _)| text.get(i + p.len()..).is_none_or(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')))
}

/// `attribute_not_exists(pk)`: the item must be new.
fn new_item() -> Expr {
    Expr::new("attribute_not_exists(#pk)").name("#pk", keys::PK)
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> DomainError {
    DomainError::Internal(format!("cannot build a DynamoDB request: {e}"))
}

/// How many times a read-modify-write retries when another writer got in between.
const OPTIMISTIC_ATTEMPTS: usize = 5;

// ---------------------------------------------------------------------------------------------

/// Creates the table as `template.yaml` defines `VantaTable`: `pk`/`sk`, GSIs `gsi1` and `gsi2`
/// (all strings, all attributes projected), on-demand billing, encryption at rest, TTL on `ttl`.
/// (Point-in-time recovery is left to the template: emulators do not need it.) For tests and
/// local emulators; waits until the table is active.
pub async fn create_table(client: &Client, name: &str) -> DomainResult<()> {
    let attr = |n: &str| AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().map_err(build_err);
    let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build().map_err(build_err);
    let gsi = |name: &str, pk: &str, sk: &str| -> DomainResult<GlobalSecondaryIndex> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash)?)
            .key_schema(key(sk, KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(build_err)
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            [keys::PK, keys::SK, keys::GSI1PK, keys::GSI1SK, keys::GSI2PK, keys::GSI2SK]
                .into_iter()
                .map(attr)
                .collect::<DomainResult<Vec<_>>>()?,
        ))
        .key_schema(key(keys::PK, KeyType::Hash)?)
        .key_schema(key(keys::SK, KeyType::Range)?)
        .global_secondary_indexes(gsi(keys::GSI1, keys::GSI1PK, keys::GSI1SK)?)
        .global_secondary_indexes(gsi(keys::GSI2, keys::GSI2PK, keys::GSI2SK)?)
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .send()
        .await
        .map_err(|e| errors::sdk("CreateTable", e))?;
    client.wait_until_table_exists().table_name(name).wait(Duration::from_secs(120)).await.map_err(|e| {
        DomainError::Unavailable(format!("table {name} did not become active: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))
    })?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(TimeToLiveSpecification::builder().attribute_name(keys::TTL).enabled(true).build().map_err(build_err)?)
        .send()
        .await
        .map_err(|e| errors::sdk("UpdateTimeToLive", e))?;
    Ok(())
}
