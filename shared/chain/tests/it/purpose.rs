//! Every signature states what it is for, from what is signed: the Avantis venue signs an open as
//! an entry and a close or TP/SL update as an exit, so a gate in front of the key (the exec-mode
//! gate) can refuse entries under an emergency stop and still sign exits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256, Signature, address};
use async_trait::async_trait;
use secrecy::SecretString;
use vanta_chain::avantis::AvantisVenue;
use vanta_chain::eip712::IntentKind;
use vanta_chain::signer::{LocalKeySigner, tx_purpose, with_purpose};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::PairIndex;
use vanta_domain::money::Price;
use vanta_domain::ports::{Purpose, Signer, Venue, VenueOrder};
use vanta_testkit::fake_avantis::FakeAvantis;

use crate::support::{eth_long, relayer_config};

const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEV_ADDRESS: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

/// A key behind a stand-in gate: records each purpose; while `stopped`, refuses entries.
struct StopGate {
    inner: LocalKeySigner,
    stopped: AtomicBool,
    seen: Mutex<Vec<Purpose>>,
}

#[async_trait]
impl Signer for StopGate {
    fn address(&self) -> TraderAddress {
        self.inner.address()
    }
    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        self.sign_digest_for(digest, Purpose::Entry).await
    }
    async fn sign_digest_for(&self, digest: B256, purpose: Purpose) -> DomainResult<Signature> {
        self.seen.lock().unwrap().push(purpose);
        if purpose == Purpose::Entry && self.stopped.load(Ordering::SeqCst) {
            return Err(DomainError::Refused("not signed: emergency stop".into()));
        }
        Signer::sign_digest(&self.inner, digest).await
    }
}

fn trader() -> TraderAddress {
    TraderAddress::new(DEV_ADDRESS).unwrap()
}

fn open(collateral: &str) -> VenueOrder {
    eth_long(trader(), collateral, None)
}

#[tokio::test]
async fn the_venue_signs_opens_as_entries_and_closes_and_tpsl_as_exits() {
    let fake = FakeAvantis::start().await.unwrap();
    let key = LocalKeySigner::from_secret_hex(&SecretString::from(DEV_KEY.to_owned())).unwrap();
    let gate = Arc::new(StopGate { inner: key, stopped: AtomicBool::new(false), seen: Mutex::new(Vec::new()) });
    let venue = AvantisVenue::from_config(relayer_config(&fake), gate.clone()).unwrap();
    let id = |s: &str| IntentId::parse(s).unwrap();

    let opened = venue.execute(&id("open-1"), &open("100")).await.unwrap();
    // The intent, then the EIP-7702 leg's smart-account call and authorisation: all the open's.
    assert_eq!(*gate.seen.lock().unwrap(), [Purpose::Entry; 3]);

    // The stop is pulled: the next entry is refused at the signature and nothing is submitted.
    gate.stopped.store(true, Ordering::SeqCst);
    let before = fake.submissions();
    let err = venue.execute(&id("open-2"), &open("200")).await.unwrap_err();
    assert!(err.to_string().contains("emergency stop"), "{err}");
    assert_eq!(fake.submissions(), before, "a refused entry reaches no one");

    // Exits still sign: a TP/SL update and the close.
    let upd = VenueOrder::UpdateTpSl {
        trader: trader(),
        pair: PairIndex(0),
        trade_index: opened.trade_index,
        tp: None,
        sl: Some(Price::from_str("2500").unwrap()),
        known: None,
    };
    venue.execute(&id("tpsl-1"), &upd).await.unwrap();
    let close = VenueOrder::Close {
        trader: trader(),
        pair: PairIndex(0),
        trade_index: opened.trade_index,
        collateral: opened.collateral,
        known: None,
    };
    venue.execute(&id("close-1"), &close).await.unwrap();
    assert!(venue.positions(trader()).await.unwrap().is_empty(), "closed under the stop");
    // The refused entry stopped at its first signature; the close signs its leg as an exit too.
    let seen = gate.seen.lock().unwrap().clone();
    let mut expected = vec![Purpose::Entry; 4];
    expected.extend([Purpose::Exit; 4]);
    assert_eq!(seen, expected);
}

#[test]
fn only_closing_protecting_and_cancelling_kinds_are_exits() {
    let exits: Vec<IntentKind> = IntentKind::ALL.iter().copied().filter(|k| k.purpose() == Purpose::Exit).collect();
    assert_eq!(
        exits,
        [
            IntentKind::CloseTradeReq,
            IntentKind::CloseTradeCoinExposureReq,
            IntentKind::UpdateTpSlReq,
            IntentKind::TpSlReq,
            IntentKind::TwapCloseOrder,
            IntentKind::TwapCancelReq,
            IntentKind::CancelOffchainOrder,
            IntentKind::RfqCloseOrder,
        ]
    );
    for k in [IntentKind::OpenTradeReq, IntentKind::IncreasePositionSizeReq, IntentKind::DelegateReq] {
        assert_eq!(k.purpose(), Purpose::Entry, "{k}");
    }
}

#[tokio::test]
async fn a_transaction_signature_is_an_entry_unless_the_sender_says_otherwise() {
    assert_eq!(tx_purpose(), Purpose::Entry, "nothing stated: an entry");
    let inside = with_purpose(Purpose::Exit, async {
        tokio::task::yield_now().await;
        let nested = with_purpose(Purpose::Entry, async { tx_purpose() }).await;
        (tx_purpose(), nested)
    })
    .await;
    assert_eq!(inside, (Purpose::Exit, Purpose::Entry));
    assert_eq!(tx_purpose(), Purpose::Entry, "the statement ends with its scope");
}
