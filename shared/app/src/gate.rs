//! The exec-mode gate in front of the delegate key: every signature first reads the effective
//! exec mode, and only LIVE signs. Whatever path reaches the signer, a DRY setting, a stop of
//! everything, or an unreadable setting means no signature.

use std::sync::Arc;

use alloy_primitives::{B256, Signature};
use async_trait::async_trait;
use vanta_domain::exec::{EnvExec, ExecMode, effective_exec};
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{ControlStore, Signer};
use vanta_domain::{DomainError, DomainResult};

/// A [`Signer`] that signs only while the effective mode is LIVE.
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
    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        let exec = effective_exec(self.env, self.control.get_exec_control().await);
        if exec.mode != ExecMode::Live {
            tracing::warn!(why = ?exec.why, "signature refused: effective exec mode is DRY");
            return Err(DomainError::Refused(format!(
                "not signed: exec mode is DRY{}",
                exec.why.map(|w| format!(" ({w})")).unwrap_or_default()
            )));
        }
        self.inner.sign_digest(digest).await
    }
}
