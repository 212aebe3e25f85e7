//! EIP-712 intents for Avantis v2.
//!
//! Time units: every `deadline` / `_deadline` and `TpSlReq.signTimestamp` is unix
//! MILLISECONDS ([`deadline_ms`]); `DelegateReq.expiry` is unix SECONDS ([`expiry_s`]).
//! Position timestamps (`Trade.timestamp`, `_openTimestamp`) are copied from the chain as-is.

mod message;
pub mod types;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{Eip712Domain, SolStruct, SolValue};
use rand::RngCore;
use serde_json::Value;

pub use types::{
    CancelOffchainOrder, CloseTradeCoinExposureReq, CloseTradeReq, DelegateReq, DelegateReqAbi, IncreasePositionSizeReq,
    IncreasePositionSizeWithCoinExposureReq, OpenTradeCoinExposureReq, OpenTradeReq, RegisterCodeReq, RfqCloseOrder, RfqOpenOrder,
    SetTraderReferralCodeByUserReq, TpSlReq, Trade, TwapCancelReq, TwapCloseOrder, TwapOpenOrder, UpdatePositionSize, UpdateTpSlReq,
};

/// EIP-712 domain name used by every Avantis v2 contract.
pub const DOMAIN_NAME: &str = "AvantisTrading";
/// EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";
/// Base mainnet chain id.
pub const BASE_MAINNET_CHAIN_ID: u64 = 8453;
/// Base Sepolia chain id.
pub const BASE_SEPOLIA_CHAIN_ID: u64 = 84532;

/// Errors from building, decoding or checking intents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Eip712Error {
    /// The API's digest differs from the locally computed one; do not sign.
    #[error(
        "EIP-712 digest mismatch for {kind}: local {local}, API {remote}; refusing to sign \
         (encoding drift or tampered response)"
    )]
    DigestMismatch { kind: IntentKind, local: B256, remote: B256 },
    /// The API's digest is not `0x` + 64 hex digits.
    #[error("malformed EIP-712 digest for {kind}: {value:?} (expected 0x + 64 hex digits)")]
    MalformedDigest { kind: IntentKind, value: String },
    /// Unknown primary type name.
    #[error("unknown Avantis intent kind {0:?}")]
    UnknownKind(String),
    /// A message field is missing, unexpected or malformed.
    #[error("{kind} message field `{field}`: {reason}")]
    Message { kind: IntentKind, field: String, reason: String },
}

/// An Avantis EIP-712 domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvantisDomain {
    pub name: String,
    pub version: String,
    pub chain_id: u64,
    pub verifying_contract: Address,
}

impl AvantisDomain {
    /// Any domain (e.g. as returned in an intent payload).
    pub fn new(name: impl Into<String>, version: impl Into<String>, chain_id: u64, verifying_contract: Address) -> Self {
        Self { name: name.into(), version: version.into(), chain_id, verifying_contract }
    }

    /// `AvantisTrading` v1 on `chain_id`. The verifying contract is the TradingRouter for
    /// the trading domain and the Referral contract for the referral domain (from `/v2/meta`).
    pub fn avantis(chain_id: u64, verifying_contract: Address) -> Self {
        Self::new(DOMAIN_NAME, DOMAIN_VERSION, chain_id, verifying_contract)
    }

    /// Avantis domain on Base mainnet.
    pub fn base_mainnet(verifying_contract: Address) -> Self {
        Self::avantis(BASE_MAINNET_CHAIN_ID, verifying_contract)
    }

    /// Avantis domain on Base Sepolia.
    pub fn base_sepolia(verifying_contract: Address) -> Self {
        Self::avantis(BASE_SEPOLIA_CHAIN_ID, verifying_contract)
    }

    /// The alloy domain value.
    pub fn eip712_domain(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(Cow::Owned(self.name.clone())),
            Some(Cow::Owned(self.version.clone())),
            Some(U256::from(self.chain_id)),
            Some(self.verifying_contract),
            None,
        )
    }

    /// The domain separator (`hashStruct(EIP712Domain)`).
    pub fn separator(&self) -> B256 {
        self.eip712_domain().separator()
    }
}

impl From<&AvantisDomain> for Eip712Domain {
    fn from(d: &AvantisDomain) -> Self {
        d.eip712_domain()
    }
}

/// Which contract verifies an intent kind (and so which `verifyingContract` to use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainRole {
    /// `addresses.tradingRouter`, also for the off-chain-verified TWAP cancel and order cancel.
    Trading,
    /// `addresses.referral` (separate nonce bitmap).
    Referral,
}

macro_rules! intents {
    ($( $kind:ident => $role:ident ),* $(,)?) => {
        /// The EIP-712 primary type of an intent.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum IntentKind {
            $( $kind, )*
        }

        impl IntentKind {
            /// Every implemented kind.
            pub const ALL: &'static [IntentKind] = &[ $( IntentKind::$kind, )* ];

            /// The EIP-712 primary type name.
            pub const fn name(self) -> &'static str {
                match self {
                    $( IntentKind::$kind => stringify!($kind), )*
                }
            }

            /// The contract whose domain signs this kind.
            pub const fn domain_role(self) -> DomainRole {
                match self {
                    $( IntentKind::$kind => DomainRole::$role, )*
                }
            }

            /// The EIP-712 `encodeType` string (primary type then referenced types).
            pub fn encode_type(self) -> Cow<'static, str> {
                match self {
                    $( IntentKind::$kind => <types::$kind as SolStruct>::eip712_encode_type(), )*
                }
            }
        }

        /// Any Avantis v2 intent.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Intent {
            $( $kind(types::$kind), )*
        }

        impl Intent {
            /// The primary type of this intent.
            pub const fn kind(&self) -> IntentKind {
                match self {
                    $( Intent::$kind(_) => IntentKind::$kind, )*
                }
            }

            /// `hashStruct(message)`.
            pub fn struct_hash(&self) -> B256 {
                match self {
                    $( Intent::$kind(m) => m.eip712_hash_struct(), )*
                }
            }

            /// The EIP-712 signing hash `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`.
            pub fn digest(&self, domain: &AvantisDomain) -> B256 {
                let domain = domain.eip712_domain();
                match self {
                    $( Intent::$kind(m) => m.eip712_signing_hash(&domain), )*
                }
            }

            /// `abi.encode(struct)` in typed-data field order.
            fn abi_encode_typed_order(&self) -> Vec<u8> {
                match self {
                    $( Intent::$kind(m) => SolValue::abi_encode(m), )*
                }
            }
        }

        $(
            impl From<types::$kind> for Intent {
                fn from(m: types::$kind) -> Self {
                    Intent::$kind(m)
                }
            }
        )*
    };
}

intents! {
    OpenTradeReq => Trading,
    OpenTradeCoinExposureReq => Trading,
    CloseTradeReq => Trading,
    CloseTradeCoinExposureReq => Trading,
    IncreasePositionSizeReq => Trading,
    IncreasePositionSizeWithCoinExposureReq => Trading,
    UpdateTpSlReq => Trading,
    TpSlReq => Trading,
    TwapOpenOrder => Trading,
    TwapCloseOrder => Trading,
    TwapCancelReq => Trading,
    CancelOffchainOrder => Trading,
    RfqOpenOrder => Trading,
    RfqCloseOrder => Trading,
    DelegateReq => Trading,
    RegisterCodeReq => Referral,
    SetTraderReferralCodeByUserReq => Referral,
}

impl IntentKind {
    /// What signing this kind is for: only kinds that close, reduce, protect (TP/SL) or cancel
    /// are exits; everything else, opens, increases, delegation and referral changes included,
    /// counts as an entry (the exec-mode gate refuses those under an emergency stop).
    pub const fn purpose(self) -> vanta_domain::ports::Purpose {
        use vanta_domain::ports::Purpose;
        match self {
            IntentKind::CloseTradeReq
            | IntentKind::CloseTradeCoinExposureReq
            | IntentKind::UpdateTpSlReq
            | IntentKind::TpSlReq
            | IntentKind::TwapCloseOrder
            | IntentKind::TwapCancelReq
            | IntentKind::CancelOffchainOrder
            | IntentKind::RfqCloseOrder => Purpose::Exit,
            IntentKind::OpenTradeReq
            | IntentKind::OpenTradeCoinExposureReq
            | IntentKind::IncreasePositionSizeReq
            | IntentKind::IncreasePositionSizeWithCoinExposureReq
            | IntentKind::TwapOpenOrder
            | IntentKind::RfqOpenOrder
            | IntentKind::DelegateReq
            | IntentKind::RegisterCodeReq
            | IntentKind::SetTraderReferralCodeByUserReq => Purpose::Entry,
        }
    }
}

impl fmt::Display for IntentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for IntentKind {
    type Err = Eip712Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IntentKind::ALL.iter().copied().find(|k| k.name() == s).ok_or_else(|| Eip712Error::UnknownKind(s.to_owned()))
    }
}

impl Intent {
    /// The `encodedIntent` bytes: `abi.encode(struct)` as a single tuple (dynamic structs
    /// carry a leading offset word). `DelegateReq` uses its Solidity declaration order
    /// (`tnc` before `deadline`), not the typed-data order. `CancelOffchainOrder` is never
    /// sent to a contract; its encoding is returned for completeness.
    pub fn abi_encode(&self) -> Vec<u8> {
        match self {
            Intent::DelegateReq(m) => DelegateReqAbi::from(m).abi_encode(),
            other => other.abi_encode_typed_order(),
        }
    }

    /// The EIP-712 `encodeType` string of this intent's primary type.
    pub fn encode_type(&self) -> Cow<'static, str> {
        self.kind().encode_type()
    }

    /// Decodes a typed-data `message` object (integers as decimal strings or JSON numbers).
    pub fn from_message(kind: IntentKind, message: &Value) -> Result<Self, Eip712Error> {
        message::decode(kind, message)
    }
}

/// "Sign what you see": Ok with the digest only when `api_digest` (`0x` + 64 hex digits, any
/// case) equals the digest of the locally built `intent` under `domain`.
pub fn verify_digest(intent: &Intent, domain: &AvantisDomain, api_digest: &str) -> Result<B256, Eip712Error> {
    let kind = intent.kind();
    let remote = parse_digest(api_digest).ok_or_else(|| Eip712Error::MalformedDigest { kind, value: api_digest.to_owned() })?;
    let local = intent.digest(domain);
    if local == remote { Ok(local) } else { Err(Eip712Error::DigestMismatch { kind, local, remote }) }
}

fn parse_digest(s: &str) -> Option<B256> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    B256::from_str(hex).ok()
}

/// A fresh nonce: 256 random bits from a CSPRNG (Avantis nonces are an unordered bitmap;
/// callers should still de-duplicate within a process).
pub fn random_nonce() -> U256 {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    U256::from_be_bytes(bytes)
}

/// A `deadline` / `_deadline` value: unix MILLISECONDS, `now_ms + ttl`.
pub fn deadline_ms(now_ms: u64, ttl: Duration) -> U256 {
    U256::from(now_ms).saturating_add(U256::from(ttl.as_millis()))
}

/// A `DelegateReq.expiry` value: unix SECONDS, `now_s + ttl` (whole seconds).
pub fn expiry_s(now_s: u64, ttl: Duration) -> U256 {
    U256::from(now_s).saturating_add(U256::from(ttl.as_secs()))
}
