//! The venue's pair catalog (one item, `MARKET` / `CATALOG`) and the DRY paper book: one item per
//! paper account (`PAPER#<address>` / `ACCOUNT`, versioned) and one per paper fill
//! (`PAPER_FILL#<intent>` / `FILL`, written once, in the same transaction as the account it
//! changed). Values are JSON in `data`; amounts inside are integer strings.

use async_trait::async_trait;
use vanta_domain::catalog::{CatalogStore, StoredCatalog};
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::paper::{PaperAccount, PaperStore};
use vanta_domain::ports::VenueFill;
use vanta_domain::{DomainError, DomainResult};

use super::codec::{Item, n, s};
use super::keys as k;
use super::{DynamoStore, Expr, new_item};

const MARKET: &str = "MARKET";
const CATALOG: &str = "CATALOG";
const FETCHED_AT: &str = "fetched_at";
const ACCOUNT: &str = "ACCOUNT";
const FILL: &str = "FILL";

fn paper_pk(trader: TraderAddress) -> String {
    format!("PAPER#{}", trader.key())
}

fn fill_pk(client_ref: &IntentId) -> String {
    format!("PAPER_FILL#{}", client_ref.as_str())
}

fn json<T: serde::Serialize>(v: &T) -> DomainResult<String> {
    serde_json::to_string(v).map_err(|e| DomainError::Internal(format!("cannot encode: {e}")))
}

fn data<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> DomainResult<T> {
    let text =
        item.get(k::DATA).and_then(|v| v.as_s().ok()).ok_or_else(|| DomainError::Internal(format!("the {what} item has no data")))?;
    serde_json::from_str(text).map_err(|e| DomainError::Internal(format!("unreadable {what} item: {e}")))
}

fn item(pk: String, sk: &str, body: String) -> Item {
    let mut i = Item::new();
    i.insert(k::PK.into(), s(pk));
    i.insert(k::SK.into(), s(sk));
    i.insert(k::DATA.into(), s(body));
    i
}

#[async_trait]
impl CatalogStore for DynamoStore {
    async fn get_catalog(&self) -> DomainResult<Option<StoredCatalog>> {
        self.get(MARKET.to_owned(), CATALOG).await?.as_ref().map(|i| data(i, "catalog")).transpose()
    }

    async fn put_catalog(&self, c: &StoredCatalog) -> DomainResult<()> {
        let mut i = item(MARKET.to_owned(), CATALOG, json(c)?);
        i.insert(FETCHED_AT.into(), n(c.fetched_at.millis()));
        let cond = Expr::new("attribute_not_exists(#pk) OR #at <= :at")
            .name("#pk", k::PK)
            .name("#at", FETCHED_AT)
            .value(":at", n(c.fetched_at.millis()));
        match self.put(i, Some(cond)).await {
            // A refresh that overlapped a later one: the newer catalog stays.
            Err(DomainError::Conflict(_)) => Ok(()),
            other => other,
        }
    }
}

#[async_trait]
impl PaperStore for DynamoStore {
    async fn paper_account(&self, trader: TraderAddress) -> DomainResult<Option<PaperAccount>> {
        let Some(i) = self.get(paper_pk(trader), ACCOUNT).await? else { return Ok(None) };
        let mut acct: PaperAccount = data(&i, "paper account")?;
        acct.version = i.get(k::VERSION).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Some(acct))
    }

    async fn paper_fill(&self, client_ref: &IntentId) -> DomainResult<Option<VenueFill>> {
        self.get(fill_pk(client_ref), FILL).await?.as_ref().map(|i| data(i, "paper fill")).transpose()
    }

    async fn commit_paper(&self, account: &PaperAccount, fill: Option<(&IntentId, &VenueFill)>) -> DomainResult<()> {
        let next = account.version + 1;
        let mut stored = account.clone();
        stored.version = next;
        let mut acct = item(paper_pk(account.trader), ACCOUNT, json(&stored)?);
        acct.insert(k::VERSION.into(), n(next));
        let cond = if account.version == 0 {
            new_item()
        } else {
            Expr::new("#version = :version").name("#version", k::VERSION).value(":version", n(account.version))
        };
        let conflict = || DomainError::Conflict(format!("paper account {} changed meanwhile", account.trader));
        let Some((client_ref, f)) = fill else {
            return match self.put(acct, Some(cond)).await {
                Err(DomainError::Conflict(_)) => Err(conflict()),
                other => other,
            };
        };
        let fill_item = item(fill_pk(client_ref), FILL, json(f)?);
        let items = vec![self.tx_put(acct, Some(cond))?, self.tx_put(fill_item, Some(new_item()))?];
        match self.transact("CommitPaper", items).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(1) => Err(DomainError::Conflict(format!("order {client_ref} is filled already"))),
            Err(super::errors::TxError::Condition { .. }) => Err(conflict()),
            Err(e) => Err(e.into()),
        }
    }
}
