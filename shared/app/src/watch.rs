//! Registration with the reconciler ([`crate::reconcile`]): cheap, best-effort writes of the
//! wallets it watches (the next run also finds wallets from positions). Apart from the reconciler
//! itself, so the pipeline registers an open whose outcome is unknown without importing it.

use vanta_domain::ids::{IntentId, TelegramUserId, TraderAddress};
use vanta_domain::recon::ReconWallet;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;

/// Changes the wallet's record (created if absent), retrying on a concurrent write.
async fn update_watch(deps: &Deps, wallet: TraderAddress, change: impl Fn(&mut ReconWallet) -> bool) -> DomainResult<()> {
    for _ in 0..5 {
        let mut w = deps.store.get_recon_wallet(wallet).await?.unwrap_or_else(|| ReconWallet::new(wallet));
        if !change(&mut w) {
            return Ok(());
        }
        match deps.store.put_recon_wallet(&w).await {
            Ok(()) => return Ok(()),
            Err(DomainError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(DomainError::Unavailable(format!("reconciler record of {wallet} kept changing")))
}

/// Asks the reconciler to resolve an open whose outcome is unknown (a lost relayer reply).
pub async fn watch_intent(deps: &Deps, wallet: TraderAddress, user: TelegramUserId, intent: &IntentId) {
    if let Err(e) = update_watch(deps, wallet, |w| w.pending.insert(intent.clone(), user).is_none()).await {
        tracing::warn!(intent = %intent, error = %e, "intent not registered with the reconciler; the worker's redeliveries still reconcile it");
    }
}

/// Watches a wallet its owner proved, for trades opened outside Vanta.
pub async fn watch_owner(deps: &Deps, wallet: TraderAddress, owner: TelegramUserId) {
    if let Err(e) = update_watch(deps, wallet, |w| {
        let changed = w.owner != Some(owner);
        w.owner = Some(owner);
        changed
    })
    .await
    {
        tracing::warn!(wallet = %wallet, error = %e, "wallet not registered with the reconciler");
    }
}

/// Watches an outside address someone follows: its opens and exits are copied.
pub async fn watch_leader(deps: &Deps, wallet: TraderAddress) -> DomainResult<()> {
    update_watch(deps, wallet, |w| {
        let changed = !w.leader;
        w.leader = true;
        changed
    })
    .await
}
