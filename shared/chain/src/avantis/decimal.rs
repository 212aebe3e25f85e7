//! Exact decimal text → fixed-point integers, for numbers the Avantis APIs send in human units
//! (`0.045`, `1e-08`, `"100"`). The text is read digit by digit; nothing goes through `f64`.

use serde_json::value::RawValue;

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
/// that is not a whole number of `10^-scale` units.
pub fn scaled_i128(text: &str, scale: u32) -> Result<i128, DecimalError> {
    let s = text.trim();
    let nan = || DecimalError::NotANumber(s.to_owned());
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        Some(_) => (false, s),
        None => return Err(nan()),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(pos) => {
            let exp_text = rest.get(pos + 1..).unwrap_or_default();
            let exp: i64 = exp_text.parse().map_err(|_| nan())?;
            (rest.get(..pos).unwrap_or_default(), exp)
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(nan());
    }
    let digits: String = int_part.chars().chain(frac_part.chars()).collect();
    let digits = digits.trim_start_matches('0');
    // value = digits × 10^(exponent − frac_len + scale)
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| nan())?;
    let shift = exponent.checked_sub(frac_len).and_then(|v| v.checked_add(i64::from(scale))).ok_or_else(nan)?;
    let out_of_range = || DecimalError::OutOfRange(s.to_owned());
    let kept: &str = if shift >= 0 {
        digits
    } else {
        let drop = usize::try_from(shift.unsigned_abs()).map_err(|_| out_of_range())?;
        if drop >= digits.len() {
            if digits.bytes().any(|b| b != b'0') {
                return Err(DecimalError::Inexact { text: s.to_owned(), scale });
            }
            ""
        } else {
            let (keep, dropped) = digits.split_at(digits.len() - drop);
            if dropped.bytes().any(|b| b != b'0') {
                return Err(DecimalError::Inexact { text: s.to_owned(), scale });
            }
            keep
        }
    };
    let mut value: i128 = 0;
    for b in kept.bytes() {
        value = value.checked_mul(10).and_then(|v| v.checked_add(i128::from(b - b'0'))).ok_or_else(out_of_range)?;
    }
    if shift > 0 && value != 0 {
        let pow = u32::try_from(shift).map_err(|_| out_of_range())?;
        value = value.checked_mul(10i128.checked_pow(pow).ok_or_else(out_of_range)?).ok_or_else(out_of_range)?;
    }
    Ok(if negative { -value } else { value })
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
}
