//! The exec-mode gate in front of the delegate key: every signature first reads the effective
//! exec mode and the stop level. Only LIVE signs; under any emergency stop (PAUSE_ENTRIES or
//! FLATTEN, stored or from the deployment) only exits sign. Whatever path reaches the signer, a DRY
//! setting, a stop, or an unreadable setting means no new exposure.
//!
//! The signer cannot tell from a digest whether it opens or closes exposure, so callers state the
//! [`Purpose`]; a signature asked for without one ([`Signer::sign_digest`]) counts as an entry.
//! The same rule ([`permits`]) guards transaction signing on the direct route.

use std::sync::Arc;

use alloy_primitives::{B256, Signature};
use async_trait::async_trait;
use vanta_domain::exec::{EffectiveExec, EnvExec, ExecMode, effective_exec};
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{ControlStore, Purpose, Signer};
use vanta_domain::{DomainError, DomainResult};

/// Whether a signature for `purpose` may be given under `exec`: only in LIVE, and an entry only
/// while no stop is pulled.
pub fn permits(exec: &EffectiveExec, purpose: Purpose) -> DomainResult<()> {
    if exec.mode != ExecMode::Live {
        tracing::warn!(why = ?exec.why, ?purpose, "signature refused: effective exec mode is DRY");
        return Err(DomainError::Refused(format!(
            "not signed: exec mode is DRY{}",
            exec.why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default()
        )));
    }
    if purpose == Purpose::Entry && !exec.allows_entries() {
        tracing::warn!(stop = exec.stop.as_str(), "signature refused: an entry under the emergency stop");
        return Err(DomainError::Refused(format!("not signed: emergency stop {} refuses new entries", exec.stop.as_str())));
    }
    Ok(())
}

/// Reads the effective mode now (any failure is DRY) and applies [`permits`].
pub async fn check(control: &dyn ControlStore, env: EnvExec, purpose: Purpose) -> DomainResult<()> {
    permits(&effective_exec(env, control.get_exec_control().await), purpose)
}

/// A [`Signer`] that signs only while the effective mode is LIVE, and entries only without a stop.
pub struct GatedSigner {
    inner: Arc<dyn Signer>,
    control: Arc<dyn ControlStore>,
    env: EnvExec,
}

impl GatedSigner {
    pub fn new(inner: Arc<dyn Signer>, control: Arc<dyn ControlStore>, env: EnvExec) -> Self {
        Self { inner, control, env }
    }
}

#[async_trait]
impl Signer for GatedSigner {
    fn address(&self) -> TraderAddress {
        self.inner.address()
    }
    /// Without a stated purpose the digest may open exposure: it is gated as an entry.
    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        self.sign_digest_for(digest, Purpose::Entry).await
    }
    async fn sign_digest_for(&self, digest: B256, purpose: Purpose) -> DomainResult<Signature> {
        check(self.control.as_ref(), self.env, purpose).await?;
        self.inner.sign_digest_for(digest, purpose).await
    }
}
