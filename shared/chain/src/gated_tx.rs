//! The exec-mode gate in front of transaction signing (the direct route), the same rule as in
//! front of digest signing ([`vanta_domain::gate`]): only LIVE signs, an entry only while no stop
//! is pulled, an unreadable setting is DRY. alloy's [`TxSigner`] cannot carry a purpose, so the
//! direct route states it around each send ([`crate::signer::with_purpose`]); a transaction
//! signed without one counts as an entry.

use std::sync::Arc;

use alloy::consensus::SignableTransaction;
use alloy::network::TxSigner;
use alloy::primitives::{Address, Signature};
use vanta_domain::exec::EnvExec;
use vanta_domain::ports::ControlStore;

use crate::signer::tx_purpose;

/// A [`TxSigner`] that reads the effective exec mode immediately before every signature.
pub struct GatedTxSigner<S> {
    inner: Arc<S>,
    control: Arc<dyn ControlStore>,
    env: EnvExec,
}

impl<S> GatedTxSigner<S> {
    pub fn new(inner: Arc<S>, control: Arc<dyn ControlStore>, env: EnvExec) -> Self {
        Self { inner, control, env }
    }
}

#[async_trait::async_trait]
impl<S> TxSigner<Signature> for GatedTxSigner<S>
where
    S: TxSigner<Signature> + Send + Sync,
{
    fn address(&self) -> Address {
        self.inner.address()
    }

    async fn sign_transaction(&self, tx: &mut dyn SignableTransaction<Signature>) -> alloy::signers::Result<Signature> {
        vanta_domain::gate::check(self.control.as_ref(), self.env, tx_purpose()).await.map_err(alloy::signers::Error::other)?;
        self.inner.sign_transaction(tx).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use alloy::consensus::TxEip1559;
    use alloy::primitives::{TxKind, U256};
    use alloy::signers::local::PrivateKeySigner;
    use async_trait::async_trait;
    use vanta_domain::exec::{ExecControl, ExecMode, StopLevel, effective_exec};
    use vanta_domain::ports::Purpose;
    use vanta_domain::{DomainError, DomainResult};

    use super::*;
    use crate::signer::with_purpose;

    /// The stored exec setting, or an unreadable one.
    struct Control(Mutex<Result<Option<ExecControl>, DomainError>>);

    #[async_trait]
    impl ControlStore for Control {
        async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>> {
            self.0.lock().unwrap().clone()
        }
        async fn put_exec_control(&self, _: &ExecControl) -> DomainResult<()> {
            Ok(())
        }
    }

    /// A local key that counts the transactions it signed.
    struct Counting {
        key: PrivateKeySigner,
        signed: AtomicUsize,
    }

    #[async_trait]
    impl TxSigner<Signature> for Counting {
        fn address(&self) -> Address {
            TxSigner::address(&self.key)
        }
        async fn sign_transaction(&self, tx: &mut dyn SignableTransaction<Signature>) -> alloy::signers::Result<Signature> {
            self.signed.fetch_add(1, Ordering::SeqCst);
            self.key.sign_transaction(tx).await
        }
    }

    fn stored(mode: ExecMode, stop: StopLevel) -> ExecControl {
        ExecControl { mode, stop, updated_by: None, updated_at: vanta_domain::time::Timestamp(0), version: 1 }
    }

    fn tx() -> TxEip1559 {
        TxEip1559 {
            chain_id: 8453,
            nonce: 7,
            gas_limit: 21_000,
            to: TxKind::Call(Address::ZERO),
            value: U256::from(1u8),
            ..TxEip1559::default()
        }
    }

    /// Every cell of (stored setting × deployment stop × purpose): the transaction gate gives the
    /// digest gate's decision ([`vanta_domain::gate::permits`], the one rule), signs only when it
    /// allows, and a signed transaction recovers to the key.
    #[tokio::test]
    async fn transactions_are_signed_exactly_when_the_one_gate_allows() {
        let settings: Vec<Result<Option<ExecControl>, DomainError>> = vec![
            Ok(None),
            Err(DomainError::Unavailable("table unreachable".into())),
            Ok(Some(stored(ExecMode::Dry, StopLevel::None))),
            Ok(Some(stored(ExecMode::Live, StopLevel::None))),
            Ok(Some(stored(ExecMode::Live, StopLevel::PauseEntries))),
            Ok(Some(stored(ExecMode::Live, StopLevel::Flatten))),
        ];
        let mut cells = 0;
        for setting in settings {
            for env in [
                EnvExec { mode: ExecMode::Live, emergency_stop: false },
                EnvExec { mode: ExecMode::Live, emergency_stop: true },
                EnvExec { mode: ExecMode::Dry, emergency_stop: false },
            ] {
                for purpose in [Purpose::Entry, Purpose::Exit] {
                    let expected = vanta_domain::gate::permits(&effective_exec(env, setting.clone()), purpose).is_ok();
                    let key = Arc::new(Counting { key: PrivateKeySigner::random(), signed: AtomicUsize::new(0) });
                    let gated = GatedTxSigner::new(key.clone(), Arc::new(Control(Mutex::new(setting.clone()))), env);
                    let mut t = tx();
                    let got = with_purpose(purpose, gated.sign_transaction(&mut t)).await;
                    assert_eq!(got.is_ok(), expected, "{setting:?} {env:?} {purpose:?}: {got:?}");
                    assert_eq!(key.signed.load(Ordering::SeqCst), usize::from(expected), "the key is asked only when allowed");
                    if let Ok(sig) = got {
                        let hash = t.signature_hash();
                        assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), TxSigner::address(&key.key));
                    } else {
                        assert!(got.unwrap_err().to_string().contains("not signed"));
                    }
                    cells += 1;
                }
            }
        }
        assert_eq!(cells, 36);
    }

    /// LIVE with no stop signs entries and exits; a transaction signed with no stated purpose
    /// counts as an entry, so under PAUSE_ENTRIES it is refused while a stated exit signs.
    #[tokio::test]
    async fn a_transaction_without_a_stated_purpose_is_an_entry() {
        let key = Arc::new(Counting { key: PrivateKeySigner::random(), signed: AtomicUsize::new(0) });
        let control = Arc::new(Control(Mutex::new(Ok(Some(stored(ExecMode::Live, StopLevel::PauseEntries))))));
        let gated = GatedTxSigner::new(key.clone(), control, EnvExec { mode: ExecMode::Live, emergency_stop: false });
        assert!(gated.sign_transaction(&mut tx()).await.is_err(), "no purpose: an entry, refused under the stop");
        assert!(with_purpose(Purpose::Exit, gated.sign_transaction(&mut tx())).await.is_ok(), "an exit still signs");
        assert_eq!(key.signed.load(Ordering::SeqCst), 1);
    }
}
