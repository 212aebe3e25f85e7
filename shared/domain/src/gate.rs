//! The exec-mode gate in front of every key: the one rule that decides whether a signature may
//! be given, for digests (EIP-712 intents, the EIP-7702 leg: `vanta_app::gate::GatedSigner`) and
//! for transactions (the direct route: `vanta_chain::gated_tx::GatedTxSigner`). Only LIVE signs;
//! under an emergency stop (stored or from the deployment) only exits sign; a setting that
//! cannot be read counts as DRY. [`check`] reads the setting at the moment of signing.

use crate::error::{DomainError, DomainResult};
use crate::exec::{EffectiveExec, EnvExec, ExecMode, effective_exec};
use crate::ports::{ControlStore, Purpose};

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
