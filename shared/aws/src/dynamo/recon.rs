//! The reconciler's per-wallet records: partition `RECON`, sort key `WALLET#<address>`, the
//! record as JSON in `data`, and a `version` every write is conditional on (two overlapping
//! indexer runs never both write from the same read).

use vanta_domain::ids::TraderAddress;
use vanta_domain::recon::ReconWallet;
use vanta_domain::{DomainError, DomainResult};

use super::codec::{self, n, s};
use super::keys as k;
use super::{DynamoStore, Expr, Query};

const RECON: &str = "RECON";
const WALLET_PREFIX: &str = "WALLET#";

fn decode(item: &codec::Item) -> DomainResult<ReconWallet> {
    let data =
        item.get(k::DATA).and_then(|v| v.as_s().ok()).ok_or_else(|| DomainError::Internal("a reconciler record has no data".into()))?;
    let mut w: ReconWallet = serde_json::from_str(data).map_err(|e| DomainError::Internal(format!("unreadable reconciler record: {e}")))?;
    // The attribute the condition checks is the truth for the version.
    if let Some(v) = item.get(k::VERSION).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<u64>().ok()) {
        w.version = v;
    }
    Ok(w)
}

impl DynamoStore {
    pub(super) async fn recon_wallets_impl(&self) -> DomainResult<Vec<ReconWallet>> {
        let items = self.query(Query::table(RECON.to_owned()).prefix(WALLET_PREFIX)).await?;
        items.iter().map(decode).collect()
    }

    pub(super) async fn get_recon_wallet_impl(&self, wallet: TraderAddress) -> DomainResult<Option<ReconWallet>> {
        match self.get(RECON.to_owned(), &format!("{WALLET_PREFIX}{}", wallet.key())).await? {
            Some(item) => decode(&item).map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn put_recon_wallet_impl(&self, w: &ReconWallet) -> DomainResult<()> {
        let mut next = w.clone();
        next.version = w.version.saturating_add(1);
        let mut item = codec::Item::new();
        item.insert(k::PK.into(), s(RECON));
        item.insert(k::SK.into(), s(format!("{WALLET_PREFIX}{}", w.wallet.key())));
        item.insert(k::DATA.into(), s(serde_json::to_string(&next).map_err(|e| DomainError::Internal(e.to_string()))?));
        item.insert(k::VERSION.into(), n(next.version));
        let cond = if w.version == 0 {
            Expr::new("attribute_not_exists(#pk)").name("#pk", k::PK)
        } else {
            Expr::new("#version = :prev").name("#version", k::VERSION).value(":prev", n(w.version))
        };
        match self.put(item, Some(cond)).await {
            Err(DomainError::Conflict(_)) => Err(DomainError::Conflict(format!("reconciler record of {} changed meanwhile", w.wallet))),
            other => other,
        }
    }
}
