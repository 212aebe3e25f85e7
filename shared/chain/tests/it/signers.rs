//! KmsSigner against the fake KMS (through the real aws-sdk-kms client) and LocalKeySigner.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::network::TxSigner;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, address, keccak256};
use alloy::signers::k256::ecdsa::Signature as K256Signature;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use secrecy::SecretString;
use vanta_chain::signer::{KmsSigner, LocalKeySigner, checked_signature, is_low_s, recover_address};
use vanta_domain::error::DomainError;
use vanta_domain::ports::Signer;
use vanta_testkit::fake_kms::FakeKms;

/// Anvil's first dev key and its address: public test values, never funded on a real chain.
const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEV_ADDRESS: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
/// The secp256k1 group order n.
const N: U256 = U256::from_be_slice(&[
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
    0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
]);
const BASE_CHAIN_ID: u64 = 8453;

async fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    let cfg = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        // Injected errors must reach the signer, not be retried away.
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    aws_sdk_kms::Client::new(&cfg)
}

async fn create_key(client: &aws_sdk_kms::Client) -> String {
    let out = client.create_key().key_spec(KeySpec::EccSecgP256K1).key_usage(KeyUsageType::SignVerify).send().await.unwrap();
    out.key_metadata().unwrap().key_id().to_string()
}

/// The address of a DER SubjectPublicKeyInfo holding an uncompressed secp256k1 point.
fn address_from_spki(der: &[u8]) -> Address {
    assert_eq!(der.len(), 88, "secp256k1 SPKI is 88 bytes");
    let point = &der[23..];
    assert_eq!(point[0], 0x04, "uncompressed point");
    Address::from_raw_public_key(&point[1..])
}

fn digest(label: &str) -> B256 {
    keccak256(label.as_bytes())
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn high_s_twin(sig: alloy::primitives::Signature) -> alloy::primitives::Signature {
    alloy::primitives::Signature::new(sig.r(), N - sig.s(), !sig.v())
}

#[tokio::test]
async fn kms_signer_signs_a_digest_that_recovers_to_the_public_key_address() {
    let kms = FakeKms::start().await.unwrap();
    let client = kms_client(&kms.endpoint).await;
    let key_id = create_key(&client).await;

    let pk = client.get_public_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(pk.key_spec(), Some(&KeySpec::EccSecgP256K1));
    assert_eq!(pk.signing_algorithms(), &[SigningAlgorithmSpec::EcdsaSha256]);
    let from_spki = address_from_spki(pk.public_key().unwrap().as_ref());
    let sec1 = kms.public_key_sec1(&key_id).unwrap();
    assert_eq!(from_spki, Address::from_raw_public_key(&sec1[1..]));

    let signer = KmsSigner::new(client, key_id.clone(), Some(BASE_CHAIN_ID)).await.unwrap();
    assert_eq!(signer.address().address(), from_spki);
    assert_eq!(signer.chain_id(), Some(BASE_CHAIN_ID));

    kms.clear_requests();
    let d = digest("vanta: open BTC/USD long");
    let sig = signer.sign_digest(d).await.unwrap();
    assert!(is_low_s(&sig));
    assert_eq!(sig.as_bytes().len(), 65);
    assert_eq!(recover_address(d, &sig).unwrap(), signer.address().address());

    // One Sign call, the digest sent as-is, no GetPublicKey per signature.
    let log = kms.requests();
    assert_eq!(log.len(), 1, "{log:?}");
    let req = &log[0];
    assert_eq!(req.operation, "Sign");
    assert_eq!(req.status, 200);
    assert_eq!(req.content_type.as_deref(), Some("application/x-amz-json-1.1"));
    assert_eq!(req.key_id.as_deref(), Some(key_id.as_str()));
    assert_eq!(req.message_type.as_deref(), Some("DIGEST"));
    assert_eq!(req.signing_algorithm.as_deref(), Some("ECDSA_SHA_256"));
    assert_eq!(req.message.as_deref(), Some(d.as_slice()));
}

#[tokio::test]
async fn kms_and_local_signers_agree_on_a_known_key() {
    let kms = FakeKms::start().await.unwrap();
    let mut key = [0u8; 32];
    alloy::hex::decode_to_slice(DEV_KEY, &mut key).unwrap();
    let key_id = kms.import_key(&key).unwrap();

    let kms_signer = KmsSigner::new(kms_client(&kms.endpoint).await, kms.key_arn(&key_id), None).await.unwrap();
    let local = LocalKeySigner::from_secret_hex(&secret(DEV_KEY)).unwrap();
    assert_eq!(kms_signer.address().address(), DEV_ADDRESS);
    assert_eq!(local.address().address(), DEV_ADDRESS);

    // Both sign with RFC 6979 over the same prehashed digest, so the signatures are identical.
    let d = digest("sign what you see");
    let a = kms_signer.sign_digest(d).await.unwrap();
    let b = local.sign_digest(d).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(recover_address(d, &a).unwrap(), DEV_ADDRESS);
}

#[tokio::test]
async fn high_s_from_kms_is_normalised_and_still_recovers() {
    let kms = FakeKms::start().await.unwrap();
    let client = kms_client(&kms.endpoint).await;
    let key_id = create_key(&client).await;
    kms.set_high_s(true);

    // The switch works: the raw KMS answer is high-s.
    let d = digest("raw");
    let raw = client
        .sign()
        .key_id(&key_id)
        .message(Blob::new(d.as_slice()))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    let der = K256Signature::from_der(raw.signature().unwrap().as_ref()).unwrap();
    assert!(der.normalize_s().is_some(), "the fake should answer high-s");

    let signer = KmsSigner::new(client, key_id, None).await.unwrap();
    for i in 0..8 {
        let d = digest(&format!("high-s {i}"));
        let sig = signer.sign_digest(d).await.unwrap();
        assert!(is_low_s(&sig), "signature {i} is high-s");
        assert_eq!(recover_address(d, &sig).unwrap(), signer.address().address());
    }
}

#[tokio::test]
async fn kms_errors_are_errors_not_panics() {
    let kms = FakeKms::start().await.unwrap();
    let client = kms_client(&kms.endpoint).await;

    // Unknown key: construction fails with our configuration's fault.
    let err = KmsSigner::new(client.clone(), "no-such-key", None).await.unwrap_err();
    assert!(matches!(&err, DomainError::Internal(m) if m.contains("NotFoundException")), "{err:?}");

    // Wrong-length digest: KMS refuses it (the port's B256 makes this impossible through the signer).
    let key_id = create_key(&client).await;
    let err = client
        .sign()
        .key_id(&key_id)
        .message(Blob::new(vec![7u8; 31]))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));

    let signer = KmsSigner::new(client.clone(), key_id.clone(), None).await.unwrap();
    let d = digest("errors");

    // Throttling and KMS-side faults are retryable.
    kms.fail_next("Sign", "ThrottlingException", 400);
    let err = signer.sign_digest(d).await.unwrap_err();
    assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
    kms.fail_next("Sign", "KMSInternalException", 500);
    let err = signer.sign_digest(d).await.unwrap_err();
    assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");

    // Permissions and disabled keys are ours to fix.
    kms.fail_next("Sign", "AccessDeniedException", 400);
    let err = signer.sign_digest(d).await.unwrap_err();
    assert!(matches!(err, DomainError::Internal(_)), "{err:?}");
    kms.set_key_enabled(&key_id, false).unwrap();
    let err = signer.sign_digest(d).await.unwrap_err();
    assert!(matches!(&err, DomainError::Internal(m) if m.contains("DisabledException")), "{err:?}");
    kms.set_key_enabled(&key_id, true).unwrap();
    assert!(signer.sign_digest(d).await.is_ok());

    // A signature from another key (alias retargeted after start-up) is refused.
    kms.set_alias("vanta-signer", &key_id).unwrap();
    let by_alias = KmsSigner::new(client.clone(), "alias/vanta-signer", None).await.unwrap();
    assert_eq!(by_alias.address(), signer.address());
    let other = create_key(&client).await;
    kms.set_alias("vanta-signer", &other).unwrap();
    let err = by_alias.sign_digest(d).await.unwrap_err();
    assert!(matches!(err, DomainError::Internal(_)), "{err:?}");

    // Nothing listening: retryable.
    let port = vanta_testkit::net::free_port().unwrap();
    let dead = kms_client(&format!("http://127.0.0.1:{port}")).await;
    let err = KmsSigner::new(dead, key_id, None).await.unwrap_err();
    assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");

    // The fake logged the injected error it answered.
    let log = kms.requests_of("Sign");
    assert!(log.iter().any(|r| r.status == 400 && r.error.as_deref() == Some("ThrottlingException")));
}

#[tokio::test]
async fn kms_signer_signs_eip1559_transactions() {
    let kms = FakeKms::start().await.unwrap();
    let client = kms_client(&kms.endpoint).await;
    let key_id = create_key(&client).await;
    kms.set_high_s(true);
    let signer = KmsSigner::new(client, key_id, Some(BASE_CHAIN_ID)).await.unwrap();

    let mut tx = TxEip1559 {
        chain_id: BASE_CHAIN_ID,
        nonce: 3,
        gas_limit: 21_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000,
        to: TxKind::Call(DEV_ADDRESS),
        value: U256::from(1u64),
        input: Bytes::new(),
        access_list: Default::default(),
    };
    let sig = TxSigner::sign_transaction(&signer, &mut tx).await.unwrap();
    assert!(is_low_s(&sig));
    assert_eq!(recover_address(tx.signature_hash(), &sig).unwrap(), signer.address().address());
    let _wallet = signer.wallet();

    // A transaction for another chain is refused before anything is signed.
    kms.clear_requests();
    let mut wrong = tx.clone();
    wrong.chain_id = 1;
    assert!(TxSigner::sign_transaction(&signer, &mut wrong).await.is_err());
    assert!(kms.requests_of("Sign").is_empty());
}

#[tokio::test]
async fn local_signer_signs_and_recovers() {
    let signer = LocalKeySigner::random().unwrap();
    let d = digest("local");
    let sig = signer.sign_digest(d).await.unwrap();
    assert!(is_low_s(&sig));
    assert_eq!(recover_address(d, &sig).unwrap(), signer.address().address());

    let known = LocalKeySigner::from_secret_hex(&secret(&format!("0x{DEV_KEY}"))).unwrap().with_chain_id(Some(BASE_CHAIN_ID));
    assert_eq!(known.address().address(), DEV_ADDRESS);
    assert_eq!(known.chain_id(), Some(BASE_CHAIN_ID));

    let mut tx = TxEip1559 { chain_id: BASE_CHAIN_ID, gas_limit: 21_000, to: TxKind::Call(DEV_ADDRESS), ..Default::default() };
    let sig = TxSigner::sign_transaction(&known, &mut tx).await.unwrap();
    assert_eq!(recover_address(tx.signature_hash(), &sig).unwrap(), DEV_ADDRESS);
}

#[test]
fn local_signer_debug_and_errors_never_show_the_key() {
    let signer = LocalKeySigner::from_secret_hex(&secret(DEV_KEY)).unwrap();
    let shown = format!("{signer:?} {signer:#?}");
    assert!(!shown.to_lowercase().contains(DEV_KEY), "{shown}");
    assert!(!shown.to_lowercase().contains(&DEV_KEY[..16]), "{shown}");
    assert!(shown.contains("LocalKeySigner"));

    // A bad key is an error whose message does not echo the input.
    for bad in [&DEV_KEY[..62], "zz0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", &"0".repeat(64), ""] {
        let err = LocalKeySigner::from_secret_hex(&secret(bad)).unwrap_err();
        assert!(matches!(err, DomainError::Invalid(_)), "{err:?}");
        if !bad.is_empty() {
            assert!(!err.to_string().contains(bad));
        }
    }
}

#[tokio::test]
async fn checked_signature_normalises_high_s_and_refuses_the_wrong_address() {
    let signer = LocalKeySigner::random().unwrap();
    let d = digest("check");
    let low = signer.sign_digest(d).await.unwrap();
    let high = high_s_twin(low);
    assert!(!is_low_s(&high));

    let fixed = checked_signature(d, high, signer.address().address()).unwrap();
    assert_eq!(fixed, low);

    let err = checked_signature(d, low, DEV_ADDRESS).unwrap_err();
    assert!(matches!(err, DomainError::Internal(_)), "{err:?}");
    // Another digest recovers to someone else.
    assert_ne!(recover_address(digest("other"), &low).unwrap(), signer.address().address());
}
