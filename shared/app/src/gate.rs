//! The exec-mode gate in front of the delegate key: every signature first reads the effective
//! exec mode and the stop level. Only LIVE signs; under any emergency stop (PAUSE_ENTRIES or
//! FLATTEN, stored or from the deployment) only exits sign. Whatever path reaches the signer, a DRY
//! setting, a stop, or an unreadable setting means no new exposure.
//!
//! The signer cannot tell from a digest whether it opens or closes exposure, so callers state the
//! [`Purpose`]; a signature asked for without one ([`Signer::sign_digest`]) counts as an entry.
//! The rule itself is [`vanta_domain::gate`]; the same rule guards transaction signing on the
//! direct route (`vanta_chain::gated_tx::GatedTxSigner`).

use std::sync::Arc;

use alloy_primitives::{B256, Signature};
use async_trait::async_trait;
use vanta_domain::DomainResult;
use vanta_domain::exec::EnvExec;
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{ControlStore, Purpose, Signer};

pub use vanta_domain::gate::{check, permits};

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
