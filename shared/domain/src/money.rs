//! Fixed-point money and venue units.
//!
//! | type        | unit                         | scale |
//! |-------------|------------------------------|-------|
//! | [`Usdc`]     | USDC amount, never negative  | 1e6   |
//! | [`SignedUsdc`] | PnL and other signed USDC  | 1e6   |
//! | [`Price`]    | Avantis price                | 1e10  |
//! | [`Leverage`] | Avantis leverage (10x = 1e11)| 1e10  |
//! | [`PercentP`] | Avantis percent (1 % = 1e10): slippage, fees, spread | 1e10 |
//! | [`Bps`]      | our own percentages          | 1 bp = 0.01 % |
//!
//! Parsing is exact: `"0.1"` is one tenth, never a binary float. A value with more decimals than
//! its scale is **refused** rather than rounded, so nobody trades an amount they did not type.
//! Conversions between scales that can lose digits say their rounding direction in their name
//! (`_floor` rounds toward zero, `_ceil` away from zero), and are property-tested.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::decimal::format_scaled;
use crate::decimal::{self, DecimalFault, Notation};
use crate::error::DomainError;

/// Why a decimal string was refused. The message is shown to users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("'{0}' is not a decimal number")]
    NotANumber(String),
    #[error("'{input}' has more than {scale} decimal places")]
    TooPrecise { input: String, scale: u32 },
    #[error("'{0}' is too large")]
    TooLarge(String),
    #[error("'{0}' must not be negative")]
    Negative(String),
    #[error("'{input}' is out of range ({reason})")]
    OutOfRange { input: String, reason: &'static str },
    #[error("amount overflow in {0}")]
    Overflow(&'static str),
}

impl From<AmountError> for DomainError {
    fn from(e: AmountError) -> Self {
        DomainError::Invalid(e.to_string())
    }
}

/// Parses a plain decimal (`"12"`, `"-3.5"`, `"+0.25"`, `".5"`, `"1_000"` is refused) into an
/// integer count of `10^-scale` units. Exponent notation is refused (`1e3` is ambiguous in
/// user input and TradingView never sends it). The parser is [`crate::decimal::parse`]; this
/// gives its refusals the sentences users see.
pub fn parse_scaled(input: &str, scale: u32) -> Result<i128, AmountError> {
    let s = input.trim();
    decimal::parse(s, scale, Notation::Plain).map_err(|fault| match fault {
        DecimalFault::NotANumber => AmountError::NotANumber(s.to_owned()),
        DecimalFault::TooPrecise => AmountError::TooPrecise { input: s.to_owned(), scale },
        DecimalFault::TooLarge => AmountError::TooLarge(s.to_owned()),
    })
}

/// `a * b / d`, rounding toward zero, without intermediate overflow for our magnitudes.
pub fn mul_div_floor(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    a.checked_mul(b).map(|p| p / d)
}

/// `a * b / d`, rounding away from zero.
pub fn mul_div_ceil(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    a.checked_mul(b).map(|p| p.div_ceil(d))
}

macro_rules! unsigned_fixed {
    ($(#[$doc:meta])* $name:ident, $scale:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(u64);

        impl $name {
            /// Decimal places of the unit.
            pub const SCALE: u32 = $scale;
            /// `10^SCALE`: the raw value of 1.
            pub const ONE_RAW: u64 = 10u64.pow($scale);
            pub const ZERO: Self = Self(0);

            /// Wraps a raw value already in venue units.
            pub const fn from_raw(raw: u64) -> Self {
                Self(raw)
            }
            /// The raw value in venue units.
            pub const fn raw(self) -> u64 {
                self.0
            }
            /// Whole units (`from_whole(10)` is 10.0).
            pub fn from_whole(n: u64) -> Result<Self, AmountError> {
                n.checked_mul(Self::ONE_RAW).map(Self).ok_or(AmountError::Overflow(concat!($what, " from_whole")))
            }
            pub fn is_zero(self) -> bool {
                self.0 == 0
            }
            pub fn checked_add(self, o: Self) -> Result<Self, AmountError> {
                self.0.checked_add(o.0).map(Self).ok_or(AmountError::Overflow(concat!($what, " add")))
            }
            pub fn checked_sub(self, o: Self) -> Result<Self, AmountError> {
                self.0.checked_sub(o.0).map(Self).ok_or(AmountError::Overflow(concat!($what, " sub")))
            }
            /// `self × bps / 10 000`, rounded toward zero.
            pub fn mul_bps_floor(self, bps: Bps) -> Result<Self, AmountError> {
                mul_div_floor(u128::from(self.0), u128::from(bps.raw()), 10_000)
                    .and_then(|v| u64::try_from(v).ok())
                    .map(Self)
                    .ok_or(AmountError::Overflow(concat!($what, " mul_bps")))
            }
        }

        impl FromStr for $name {
            type Err = AmountError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let v = parse_scaled(s, $scale)?;
                if v < 0 {
                    return Err(AmountError::Negative(s.trim().to_owned()));
                }
                u64::try_from(v).map(Self).map_err(|_| AmountError::TooLarge(s.trim().to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&format_scaled(i128::from(self.0), $scale))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = crate::money::DecimalText::deserialize(d)?;
                text.0.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

unsigned_fixed!(
    /// A USDC amount in micro-USDC (1e6). Never negative; see [`SignedUsdc`] for PnL.
    Usdc, 6, "usdc"
);
unsigned_fixed!(
    /// An Avantis price, 1e10 per quote unit (USD).
    Price, 10, "price"
);
unsigned_fixed!(
    /// An Avantis percentage, 1e10 per percent: 1 % = `10_000_000_000`. Used for slippage, fees
    /// and spreads exactly as the venue stores them.
    PercentP, 10, "percent"
);

/// Slippage tolerance in the venue's percent units.
pub type SlippageP = PercentP;

impl PercentP {
    /// One hundred percent.
    pub const HUNDRED: Self = Self(100 * 10_000_000_000);

    /// Exact: 1 bp = 0.01 % = `1e8` raw.
    pub fn from_bps(bps: Bps) -> Self {
        Self(u64::from(bps.raw()) * 100_000_000)
    }
    /// To basis points, rounded toward zero (0.015 % → 1 bp).
    pub fn to_bps_floor(self) -> Bps {
        Bps(u32::try_from(self.0 / 100_000_000).unwrap_or(u32::MAX))
    }
    /// To basis points, rounded away from zero (0.015 % → 2 bps). Use it when a limit must not
    /// be understated.
    pub fn to_bps_ceil(self) -> Bps {
        Bps(u32::try_from(self.0.div_ceil(100_000_000)).unwrap_or(u32::MAX))
    }
    /// `amount × self / 100 %`, rounded up (fees are never understated).
    pub fn of_usdc_ceil(self, amount: Usdc) -> Result<Usdc, AmountError> {
        mul_div_ceil(u128::from(amount.raw()), u128::from(self.0), u128::from(Self::HUNDRED.0))
            .and_then(|v| u64::try_from(v).ok())
            .map(Usdc)
            .ok_or(AmountError::Overflow("percent of usdc"))
    }
}

/// Leverage in venue units (1e10; 10x = `100_000_000_000`). Always ≥ 1x and ≤ [`Leverage::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Leverage(u64);

impl Leverage {
    pub const SCALE: u32 = 10;
    pub const ONE_RAW: u64 = 10_000_000_000;
    /// Highest leverage any Avantis market offers (Upside pairs reach 500x); anything above is a typo.
    pub const MAX: Self = Self(1000 * Self::ONE_RAW);
    pub const ONE: Self = Self(Self::ONE_RAW);

    pub fn from_raw(raw: u64) -> Result<Self, AmountError> {
        if raw < Self::ONE_RAW {
            return Err(AmountError::OutOfRange { input: format_scaled(raw.into(), 10), reason: "leverage must be at least 1x" });
        }
        if raw > Self::MAX.0 {
            return Err(AmountError::OutOfRange { input: format_scaled(raw.into(), 10), reason: "leverage above 1000x" });
        }
        Ok(Self(raw))
    }
    pub fn from_whole(x: u64) -> Result<Self, AmountError> {
        Self::from_raw(x.checked_mul(Self::ONE_RAW).ok_or(AmountError::Overflow("leverage"))?)
    }
    pub const fn raw(self) -> u64 {
        self.0
    }
    pub(crate) const fn from_raw_unchecked(raw: u64) -> Self {
        Self(raw)
    }
    /// Position notional = collateral × leverage, rounded toward zero (as the venue computes it).
    pub fn notional(self, collateral: Usdc) -> Result<Usdc, AmountError> {
        mul_div_floor(u128::from(collateral.raw()), u128::from(self.0), u128::from(Self::ONE_RAW))
            .and_then(|v| u64::try_from(v).ok())
            .map(Usdc)
            .ok_or(AmountError::Overflow("notional"))
    }
    /// Collateral needed for a notional at this leverage, rounded up (never under-margined).
    pub fn collateral_for(self, notional: Usdc) -> Result<Usdc, AmountError> {
        mul_div_ceil(u128::from(notional.raw()), u128::from(Self::ONE_RAW), u128::from(self.0))
            .and_then(|v| u64::try_from(v).ok())
            .map(Usdc)
            .ok_or(AmountError::Overflow("collateral"))
    }
}

impl FromStr for Leverage {
    type Err = AmountError;
    /// Accepts `"10"`, `"10x"`, `"2.5X"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t.strip_suffix(['x', 'X']).unwrap_or(t);
        let v = parse_scaled(t, 10)?;
        if v < 0 {
            return Err(AmountError::Negative(s.trim().to_owned()));
        }
        let raw = u64::try_from(v).map_err(|_| AmountError::TooLarge(s.trim().to_owned()))?;
        Self::from_raw(raw).map_err(|e| match e {
            AmountError::OutOfRange { reason, .. } => AmountError::OutOfRange { input: s.trim().to_owned(), reason },
            other => other,
        })
    }
}

impl fmt::Display for Leverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_scaled(i128::from(self.0), 10))
    }
}

impl Serialize for Leverage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Leverage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DecimalText::deserialize(d)?.0.parse().map_err(serde::de::Error::custom)
    }
}

/// A signed USDC amount (PnL, balances after losses), micro-USDC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SignedUsdc(i64);

impl SignedUsdc {
    pub const ZERO: Self = Self(0);
    pub const fn from_raw(raw: i64) -> Self {
        Self(raw)
    }
    pub const fn raw(self) -> i64 {
        self.0
    }
    pub fn from_usdc(u: Usdc) -> Result<Self, AmountError> {
        i64::try_from(u.raw()).map(Self).map_err(|_| AmountError::Overflow("signed usdc"))
    }
    pub fn checked_add(self, o: Self) -> Result<Self, AmountError> {
        self.0.checked_add(o.0).map(Self).ok_or(AmountError::Overflow("signed usdc add"))
    }
    pub fn checked_sub(self, o: Self) -> Result<Self, AmountError> {
        self.0.checked_sub(o.0).map(Self).ok_or(AmountError::Overflow("signed usdc sub"))
    }
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
    /// The loss as a positive amount (zero when in profit).
    pub fn loss(self) -> Usdc {
        Usdc::from_raw(if self.0 < 0 { self.0.unsigned_abs() } else { 0 })
    }
}

impl FromStr for SignedUsdc {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = parse_scaled(s, 6)?;
        i64::try_from(v).map(Self).map_err(|_| AmountError::TooLarge(s.trim().to_owned()))
    }
}

impl fmt::Display for SignedUsdc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_scaled(i128::from(self.0), 6))
    }
}

impl Serialize for SignedUsdc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SignedUsdc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DecimalText::deserialize(d)?.0.parse().map_err(serde::de::Error::custom)
    }
}

/// Basis points, our own unit for percentages (1 bp = 0.01 %). Up to 1 000 000 bps (10 000 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Bps(u32);

impl Bps {
    pub const MAX: Self = Self(1_000_000);
    pub const FULL: Self = Self(10_000);
    pub fn new(bps: u32) -> Result<Self, AmountError> {
        if bps > Self::MAX.0 {
            return Err(AmountError::OutOfRange { input: bps.to_string(), reason: "above 10000 %" });
        }
        Ok(Self(bps))
    }
    pub const fn raw(self) -> u32 {
        self.0
    }
    pub(crate) const fn from_raw_const(v: u32) -> Self {
        Self(v)
    }
    /// Parses a percent with up to two decimals: `"0.5"` → 50 bps, `"12.34%"` → 1234 bps.
    pub fn from_percent_str(s: &str) -> Result<Self, AmountError> {
        let t = s.trim();
        let t = t.strip_suffix('%').unwrap_or(t);
        let v = parse_scaled(t, 2)?;
        if v < 0 {
            return Err(AmountError::Negative(s.trim().to_owned()));
        }
        u32::try_from(v).map_err(|_| AmountError::TooLarge(s.trim().to_owned())).and_then(Self::new)
    }
    /// As a percent string: 50 → `"0.5"`.
    pub fn to_percent_string(self) -> String {
        format_scaled(i128::from(self.0), 2)
    }
}

impl TryFrom<u32> for Bps {
    type Error = AmountError;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<Bps> for u32 {
    fn from(b: Bps) -> u32 {
        b.0
    }
}

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.to_percent_string())
    }
}

/// The text of a JSON amount, whether it came as a string (`"1.5"`) or a number (`1.5`).
///
/// Numbers are taken from their JSON text, never through `f64`, when the deserializer is
/// serde_json (it hands us the raw text via [`serde_json::value::RawValue`] only when asked, so we
/// accept integers directly and refuse floating-point numbers that reached us as `f64`: those
/// must be sent as strings or parsed with [`DecimalText::from_json_raw`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl DecimalText {
    /// Exact text of a raw JSON value: a string's contents or a number's literal.
    pub fn from_json_raw(raw: &serde_json::value::RawValue) -> Result<Self, AmountError> {
        let t = raw.get().trim();
        if t.starts_with('"') {
            let s: String = serde_json::from_str(t).map_err(|_| AmountError::NotANumber(t.to_owned()))?;
            Ok(Self(s))
        } else if t.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Ok(Self(t.to_owned()))
        } else {
            Err(AmountError::NotANumber(t.to_owned()))
        }
    }
}

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DecimalText(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom("fractional amounts must be sent as strings (\"1.5\"), not floating-point numbers"))
            }
        }
        d.deserialize_any(V)
    }
}
