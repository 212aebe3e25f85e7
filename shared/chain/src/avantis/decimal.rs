//! Exact decimal text → fixed-point integers, for numbers the Avantis APIs send in human units
//! (`0.045`, `1e-08`, `"100"`). An adapter: the text of a JSON value ([`raw_text`]) read by the
//! domain's one exact parser ([`vanta_domain::decimal`]) in scientific notation, its refusals
//! named as this crate reports them ([`DecimalError`]). Nothing goes through `f64`.

use serde_json::value::RawValue;
use vanta_domain::decimal::{self, DecimalFault, Notation};

/// Why a decimal could not be converted exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("{0:?} is not a decimal number")]
    NotANumber(String),
    #[error("{text:?} has more precision than 1e-{scale}")]
    Inexact { text: String, scale: u32 },
    #[error("{0:?} is out of range")]
    OutOfRange(String),
    #[error("{0:?} is negative")]
    Negative(String),
}

/// The text of a JSON number or of a JSON string holding a number.
pub fn raw_text(raw: &RawValue) -> Result<String, DecimalError> {
    let t = raw.get().trim();
    if t.starts_with('"') {
        serde_json::from_str::<String>(t).map_err(|_| DecimalError::NotANumber(t.to_owned()))
    } else {
        Ok(t.to_owned())
    }
}

/// `text × 10^scale` as an exact signed integer. Accepts an optional sign, digits with an
/// optional fraction and an optional exponent (`1.5`, `-0.25`, `3e-09`, `1E+3`). Refuses any value
/// that is not a whole number of `10^-scale` units. The parser is the domain's
/// ([`vanta_domain::decimal::parse`], scientific notation); this names its refusals.
pub fn scaled_i128(text: &str, scale: u32) -> Result<i128, DecimalError> {
    let s = text.trim();
    decimal::parse(s, scale, Notation::Scientific).map_err(|fault| match fault {
        DecimalFault::NotANumber => DecimalError::NotANumber(s.to_owned()),
        DecimalFault::TooPrecise => DecimalError::Inexact { text: s.to_owned(), scale },
        DecimalFault::TooLarge => DecimalError::OutOfRange(s.to_owned()),
    })
}

/// [`scaled_i128`] for values that must be non-negative and fit a `u64`.
pub fn scaled_u64(text: &str, scale: u32) -> Result<u64, DecimalError> {
    let v = scaled_i128(text, scale)?;
    if v < 0 {
        return Err(DecimalError::Negative(text.trim().to_owned()));
    }
    u64::try_from(v).map_err(|_| DecimalError::OutOfRange(text.trim().to_owned()))
}

/// A raw-unit integer from a JSON value: a decimal string or a JSON integer (never a float).
pub fn json_u64(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::String(s) => {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn exact_conversions() {
        assert_eq!(scaled_i128("0.0003", 10).unwrap(), 3_000_000);
        assert_eq!(scaled_i128("0.045", 10).unwrap(), 450_000_000);
        assert_eq!(scaled_i128("1e-08", 10).unwrap(), 100);
        assert_eq!(scaled_i128("2500", 10).unwrap(), 25_000_000_000_000);
        assert_eq!(scaled_i128("1.5E+2", 6).unwrap(), 150_000_000);
        assert_eq!(scaled_i128("-0.5", 6).unwrap(), -500_000);
        assert_eq!(scaled_i128("0", 6).unwrap(), 0);
        assert_eq!(scaled_i128("100.000000000", 6).unwrap(), 100_000_000);
        assert!(matches!(scaled_i128("1.5e-09", 6), Err(DecimalError::Inexact { .. })));
        assert!(matches!(scaled_i128("0.0000001", 6), Err(DecimalError::Inexact { .. })));
        assert!(scaled_i128("abc", 6).is_err());
        assert!(scaled_i128("", 6).is_err());
        assert!(scaled_i128(".", 6).is_err());
        assert!(scaled_u64("-1", 6).is_err());
    }

    /// The adapter names the domain parser's refusals as this crate always has.
    #[test]
    fn refusals_keep_their_names_and_texts() {
        assert_eq!(scaled_i128(" abc ", 6), Err(DecimalError::NotANumber("abc".into())));
        assert_eq!(scaled_i128("1.5e-09", 6), Err(DecimalError::Inexact { text: "1.5e-09".into(), scale: 6 }));
        assert_eq!(scaled_i128("1e400", 0), Err(DecimalError::OutOfRange("1e400".into())));
        assert_eq!(scaled_u64("-1", 6), Err(DecimalError::Negative("-1".into())));
        assert_eq!(scaled_u64("18446744073709551616", 0), Err(DecimalError::OutOfRange("18446744073709551616".into())));
        assert_eq!(scaled_u64("1.5e-09", 6).unwrap_err().to_string(), "\"1.5e-09\" has more precision than 1e-6");
        assert_eq!(scaled_i128("x", 6).unwrap_err().to_string(), "\"x\" is not a decimal number");
    }

    #[test]
    fn raw_text_reads_strings_and_numbers() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        assert_eq!(raw_text(&raw(r#""0.045""#)).unwrap(), "0.045");
        assert_eq!(raw_text(&raw("1e-08")).unwrap(), "1e-08");
        assert_eq!(scaled_u64(&raw_text(&raw("1e-08")).unwrap(), 10).unwrap(), 100);
    }
}
