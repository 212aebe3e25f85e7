//! Golden-vector tests for the Avantis v2 EIP-712 intents. The reference data lives outside the
//! repository (`../shared/avantis`) and is read at run time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::{B256, U256, address, hex};
use serde_json::{Value, json};
use vanta_chain::eip712::{
    AvantisDomain, CloseTradeReq, DomainRole, Eip712Error, Intent, IntentKind, deadline_ms, expiry_s, random_nonce, verify_digest,
};

use crate::support::vector_domain;

const REQUIRED: &[&str] =
    &["OpenTradeReq", "CloseTradeReq", "IncreasePositionSizeReq", "UpdateTpSlReq", "TpSlReq", "CancelOffchainOrder", "DelegateReq"];

/// The reference data (`../shared/avantis`, or `$VANTA_SHARED_DIR/avantis`); the tests that read
/// it are ignored when the build script did not find it.
fn reference_dir() -> PathBuf {
    PathBuf::from(env!("VANTA_SHARED_AVANTIS"))
}

fn load(dir: &Path, rel: &str) -> Value {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn b256(v: &Value) -> B256 {
    B256::from_str(v.as_str().expect("hex string")).expect("32-byte hex")
}

/// kind name -> vector object.
fn vectors_by_kind(vectors: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for v in vectors["vectors"].as_array().expect("vectors array") {
        let kind = v["kind"].as_str().expect("kind").to_owned();
        assert!(out.insert(kind.clone(), v.clone()).is_none(), "duplicate vector kind {kind}");
    }
    out
}

fn build(kind: &str, vector: &Value) -> Intent {
    let kind = IntentKind::from_str(kind).unwrap_or_else(|e| panic!("not implemented: {e}"));
    Intent::from_message(kind, &vector["message"]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn vectors_domain_struct_hash_and_digest() {
    let dir = reference_dir();
    let vectors = load(&dir, "vectors/vectors.json");
    let domain = vector_domain(&vectors);
    assert_eq!(domain.separator(), b256(&vectors["domainSeparator"]), "domain separator");

    let by_kind = vectors_by_kind(&vectors);
    let mut failures = Vec::new();
    for (kind, vector) in &by_kind {
        let intent = build(kind, vector);
        assert_eq!(intent.kind().name(), kind);
        let struct_hash = intent.struct_hash();
        if struct_hash != b256(&vector["structHash"]) {
            failures.push(format!("{kind}: structHash {struct_hash} != {}", vector["structHash"]));
        }
        let digest = intent.digest(&domain);
        if digest != b256(&vector["digest"]) {
            failures.push(format!("{kind}: digest {digest} != {}", vector["digest"]));
        }
        let checked = vector["digest"].as_str().unwrap();
        if let Err(e) = verify_digest(&intent, &domain, checked) {
            failures.push(format!("{kind}: verify_digest refused the golden digest: {e}"));
        }
    }
    assert!(failures.is_empty(), "vector mismatches:\n{}", failures.join("\n"));

    // Every implemented kind has a golden vector, and vice versa.
    let implemented: Vec<&str> = IntentKind::ALL.iter().map(|k| k.name()).collect();
    for name in &implemented {
        assert!(by_kind.contains_key(*name), "implemented kind {name} has no golden vector");
    }
    assert_eq!(by_kind.len(), implemented.len(), "vector kinds vs implemented kinds");
    assert_eq!(by_kind.len(), 17);
}

/// The generated `encodeType` strings equal those implied by `eip712_types.json`.
#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn encode_types_match_reference_types() {
    let dir = reference_dir();
    let types = load(&dir, "eip712_types.json");
    let types = types["types"].as_object().expect("types object");

    let field_list = |fields: &Value| -> String {
        fields
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{} {}", f["type"].as_str().unwrap(), f["name"].as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(",")
    };

    for (primary, group) in types {
        let group = group.as_object().unwrap();
        // EIP-712: primary type first, then referenced types sorted by name.
        let mut expected = format!("{primary}({})", field_list(&group[primary]));
        let mut referenced: Vec<&String> = group.keys().filter(|k| *k != primary).collect();
        referenced.sort();
        for name in referenced {
            expected.push_str(&format!("{name}({})", field_list(&group[name])));
        }
        let kind = IntentKind::from_str(primary).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kind.encode_type(), expected, "encodeType of {primary}");
    }
    for kind in IntentKind::ALL {
        assert!(types.contains_key(kind.name()), "{kind} missing from eip712_types.json");
    }
}

#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn abi_encoding_matches_reference() {
    let dir = reference_dir();
    let vectors = vectors_by_kind(&load(&dir, "vectors/vectors.json"));
    let reference = load(&dir, "vectors/intent_encoding_reference.json");
    let reference = reference.as_object().expect("reference object");
    assert!(!reference.is_empty());
    for (kind, encoded) in reference {
        let vector = vectors.get(kind).unwrap_or_else(|| panic!("no vector message for {kind}"));
        let intent = build(kind, vector);
        let expected = hex::decode(encoded.as_str().unwrap()).unwrap();
        assert_eq!(hex::encode_prefixed(intent.abi_encode()), hex::encode_prefixed(&expected), "encodedIntent of {kind}");
    }
}

#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn delegate_tnc_matches_reference() {
    let dir = reference_dir();
    let types = load(&dir, "eip712_types.json");
    let vectors = vectors_by_kind(&load(&dir, "vectors/vectors.json"));
    assert_eq!(vectors["DelegateReq"]["message"]["tnc"], types["TNC_STRING"]);
}

#[test]
fn required_kinds_are_implemented() {
    let implemented: Vec<&str> = IntentKind::ALL.iter().map(|k| k.name()).collect();
    for name in REQUIRED {
        assert!(implemented.contains(name), "required kind {name} is not implemented");
    }
}

#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn required_kinds_have_reference_vectors() {
    let vectors = vectors_by_kind(&load(&reference_dir(), "vectors/vectors.json"));
    for name in REQUIRED {
        assert!(vectors.contains_key(*name), "required kind {name} missing from vectors.json");
    }
}

fn sample_close() -> Intent {
    Intent::from(CloseTradeReq {
        _trader: address!("0x1111111111111111111111111111111111111111"),
        _pairIndex: U256::from(1),
        _index: U256::ZERO,
        _openTimestamp: U256::from(1_750_000_000u64),
        _amount: U256::from(50_000_000u64),
        _wantedPrice: U256::from(810_000_000_000_000u64),
        _deadline: U256::from(1_800_000_000_123u64),
        _nonce: U256::from(987_654_321_123_456_789u64),
    })
}

#[test]
fn verify_digest_refuses_mismatch() {
    let domain = AvantisDomain::avantis(31337, address!("0x5fbdb2315678afecb367f032d93f642f64180aa3"));
    let intent = sample_close();
    let digest = intent.digest(&domain);

    // Golden CloseTradeReq digest from vectors.json (§4.3 of the API reference).
    assert_eq!(digest, B256::from_str("0x0aca1278368207d7e945a7e41b0b5a3607849adca06006644b52d93dc6c96930").unwrap());
    assert_eq!(verify_digest(&intent, &domain, &digest.to_string()), Ok(digest));
    let upper = format!("0x{}", hex::encode_upper(digest));
    assert_eq!(verify_digest(&intent, &domain, &upper), Ok(digest));

    let mut wrong = digest;
    wrong.0[31] ^= 1;
    let err = verify_digest(&intent, &domain, &wrong.to_string()).unwrap_err();
    assert_eq!(err, Eip712Error::DigestMismatch { kind: IntentKind::CloseTradeReq, local: digest, remote: wrong });
    let msg = err.to_string();
    assert!(msg.contains("mismatch") && msg.contains("refusing to sign"), "{msg}");

    // Same message under another domain (e.g. Base mainnet) must not verify.
    let mainnet = AvantisDomain::base_mainnet(domain.verifying_contract);
    assert!(matches!(verify_digest(&intent, &mainnet, &digest.to_string()), Err(Eip712Error::DigestMismatch { .. })));

    for bad in ["", "0x", "0x1234", &digest.to_string()[2..], &format!("{digest}00"), "0xzz"] {
        assert!(
            matches!(verify_digest(&intent, &domain, bad), Err(Eip712Error::MalformedDigest { .. })),
            "accepted malformed digest {bad:?}"
        );
    }
}

#[test]
fn message_decoding_is_strict() {
    let kind = IntentKind::CancelOffchainOrder;
    assert!(Intent::from_message(kind, &json!({"entityId": "abc"})).is_ok());
    for bad in [json!({}), json!({"entityId": 5}), json!({"entityId": "abc", "extra": 1}), json!(["abc"])] {
        assert!(matches!(Intent::from_message(kind, &bad), Err(Eip712Error::Message { .. })), "accepted {bad}");
    }

    let tpsl = |trigger: Value, percentage: Value| {
        json!({
            "trader": "0x1111111111111111111111111111111111111111",
            "pairIndex": 1, "index": "0x0", "triggerType": trigger, "coinSize": "1",
            "buy": true, "price": "2", "percentage": percentage, "timestamp": "3",
            "signTimestamp": "4", "orderType": 4, "nonce": "5"
        })
    };
    assert!(Intent::from_message(IntentKind::TpSlReq, &tpsl(json!("1"), json!(-5))).is_ok());
    assert!(Intent::from_message(IntentKind::TpSlReq, &tpsl(json!(1), json!("-5"))).is_ok());
    for (trigger, pct) in [
        (json!(256), json!("0")),
        (json!(-1), json!("0")),
        (json!("1.0"), json!("0")),
        (json!(1), json!("0x05")),
        (json!(1), json!("--5")),
        (json!(1), json!(1.5)),
    ] {
        let err = Intent::from_message(IntentKind::TpSlReq, &tpsl(trigger.clone(), pct.clone()));
        assert!(err.is_err(), "accepted triggerType {trigger} percentage {pct}");
    }

    assert!(matches!(IntentKind::from_str("OpenTrade"), Err(Eip712Error::UnknownKind(_))));
}

#[test]
fn domains_and_roles() {
    let router = address!("0x5fbdb2315678afecb367f032d93f642f64180aa3");
    let d = AvantisDomain::base_mainnet(router);
    assert_eq!((d.name.as_str(), d.version.as_str(), d.chain_id), ("AvantisTrading", "1", 8453));
    assert_eq!(d.verifying_contract, router);
    assert_eq!(AvantisDomain::base_sepolia(router).chain_id, 84532);
    assert_eq!(IntentKind::RegisterCodeReq.domain_role(), DomainRole::Referral);
    assert_eq!(IntentKind::SetTraderReferralCodeByUserReq.domain_role(), DomainRole::Referral);
    assert_eq!(IntentKind::CancelOffchainOrder.domain_role(), DomainRole::Trading);
    assert_eq!(IntentKind::ALL.len(), 17);
}

#[test]
fn nonce_and_time_helpers() {
    let a = random_nonce();
    let b = random_nonce();
    assert_ne!(a, b);
    // 256 random bits: the top 64 bits are all zero with probability 2^-64.
    assert!(a >> 192 != U256::ZERO || b >> 192 != U256::ZERO);

    assert_eq!(deadline_ms(1_800_000_000_000, Duration::from_secs(120)), U256::from(1_800_000_120_000u64));
    assert_eq!(deadline_ms(u64::MAX, Duration::from_millis(1)), U256::from(u64::MAX) + U256::from(1));
    assert_eq!(expiry_s(1_760_000_000, Duration::from_secs(86_400)), U256::from(1_760_086_400u64));
}
