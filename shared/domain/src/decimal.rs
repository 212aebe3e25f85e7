//! Exact decimal text ↔ scaled integers, the one parser behind every amount in the code base.
//!
//! [`parse`] turns `"12.5"` into `12_500_000` at scale 6 digit by digit, never through `f64`. A
//! value that is not a whole number of `10^-scale` units is refused ([`DecimalFault::TooPrecise`]),
//! never rounded. Two notations are read:
//!
//! - [`Notation::Plain`]: an optional sign, digits and an optional fraction (`12`, `-3.5`, `+0.25`,
//!   `.5`, `5.`). What users type and TradingView sends; [`crate::money::parse_scaled`] reads it.
//! - [`Notation::Scientific`]: the same with an optional exponent (`1e-08`, `1.5E+2`), as the
//!   venue's APIs write some numbers; the chain adapter (`vanta_chain::avantis::decimal`) reads it.
//!
//! Each caller maps a [`DecimalFault`] to its own boundary error, so the messages users and
//! operators see stay those of that boundary. [`format_scaled`] is the inverse: the shortest exact
//! decimal of a scaled integer, which [`parse`] reads back to the same integer.

/// Which forms a decimal text may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notation {
    /// Sign, digits, fraction; an exponent (`1e3`) is refused as not a number: in user input it
    /// is ambiguous, and TradingView never sends it.
    Plain,
    /// [`Notation::Plain`] or with an exponent (`3e-09`, `1E+3`), as the venue's APIs send.
    Scientific,
}

/// Why a decimal text has no exact value at the scale asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalFault {
    /// Not a decimal number in the notation (empty, stray characters, `.`, a bad exponent).
    NotANumber,
    /// Not a whole number of `10^-scale` units (more decimals than the scale, once trailing
    /// zeros are dropped).
    TooPrecise,
    /// Too large for an `i128` at the scale.
    TooLarge,
}

/// `text × 10^scale` as an exact signed integer, the text trimmed first. See the module
/// documentation for the notations.
pub fn parse(text: &str, scale: u32, notation: Notation) -> Result<i128, DecimalFault> {
    use DecimalFault::{NotANumber, TooLarge, TooPrecise};
    let s = text.trim();
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        Some(_) => (false, s),
        None => return Err(NotANumber),
    };
    let (mantissa, exponent) = match (notation, rest.find(['e', 'E'])) {
        (Notation::Scientific, Some(pos)) => {
            let exp: i64 = rest.get(pos + 1..).unwrap_or_default().parse().map_err(|_| NotANumber)?;
            (rest.get(..pos).unwrap_or_default(), exp)
        }
        _ => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(NotANumber);
    }
    let digits: String = int_part.chars().chain(frac_part.chars()).collect();
    let digits = digits.trim_start_matches('0');
    // value = digits × 10^(exponent − frac_len + scale)
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| NotANumber)?;
    let shift = exponent.checked_sub(frac_len).and_then(|v| v.checked_add(i64::from(scale))).ok_or(NotANumber)?;
    let kept: &str = if shift >= 0 {
        digits
    } else {
        // The last `drop` digits are below the unit: they must all be zero.
        let drop = usize::try_from(shift.unsigned_abs()).map_err(|_| TooLarge)?;
        let (keep, dropped) = digits.split_at(digits.len().saturating_sub(drop));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(TooPrecise);
        }
        keep
    };
    let mut value: i128 = 0;
    for b in kept.bytes() {
        value = value.checked_mul(10).and_then(|v| v.checked_add(i128::from(b - b'0'))).ok_or(TooLarge)?;
    }
    if shift > 0 && value != 0 {
        let pow = u32::try_from(shift).map_err(|_| TooLarge)?;
        value = value.checked_mul(10i128.checked_pow(pow).ok_or(TooLarge)?).ok_or(TooLarge)?;
    }
    Ok(if negative { -value } else { value })
}

/// Formats `units` of `10^-scale` as the shortest exact decimal (`1500000` at 6 → `"1.5"`).
/// `scale` is at most 38 (`10^38` is the largest power of ten a `u128` holds).
pub fn format_scaled(units: i128, scale: u32) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    let one = 10u128.pow(scale);
    let int = abs / one;
    let frac = abs % one;
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:0width$}", width = scale as usize);
    format!("{sign}{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    fn plain(s: &str, scale: u32) -> Result<i128, DecimalFault> {
        parse(s, scale, Notation::Plain)
    }

    fn sci(s: &str, scale: u32) -> Result<i128, DecimalFault> {
        parse(s, scale, Notation::Scientific)
    }

    #[test]
    fn plain_decimals_parse_exactly() {
        assert_eq!(plain("100", 6), Ok(100_000_000));
        assert_eq!(plain("0.1", 6), Ok(100_000));
        assert_eq!(plain("0.000001", 6), Ok(1));
        assert_eq!(plain(" 12.50 ", 6), Ok(12_500_000));
        assert_eq!(plain("1.500000000", 6), Ok(1_500_000), "trailing zeros carry no value");
        assert_eq!(plain(".5", 6), Ok(500_000));
        assert_eq!(plain("5.", 6), Ok(5_000_000));
        assert_eq!(plain("-3.5", 6), Ok(-3_500_000));
        assert_eq!(plain("+0.25", 2), Ok(25));
        assert_eq!(plain("-0", 6), Ok(0));
        assert_eq!(plain("0003", 0), Ok(3), "leading zeros carry no value");
        assert_eq!(plain("0.0003", 10), Ok(3_000_000), "the classic float trap is exact");
    }

    #[test]
    fn plain_refuses_exponents_and_what_is_not_a_number() {
        for s in ["1e3", "1E3", "NaN", "", " ", ".", "-", "+", "1,5", "1_000", "--1", "+-1", "1.2.3", "0x10", "١"] {
            assert_eq!(plain(s, 6), Err(DecimalFault::NotANumber), "{s:?}");
        }
    }

    #[test]
    fn more_decimals_than_the_scale_are_refused_never_rounded() {
        assert_eq!(plain("0.0000001", 6), Err(DecimalFault::TooPrecise));
        assert_eq!(plain("0.00000010", 6), Err(DecimalFault::TooPrecise));
        assert_eq!(plain("0.001", 2), Err(DecimalFault::TooPrecise));
        assert_eq!(plain("0.0000000", 6), Ok(0));
        assert_eq!(sci("1.5e-09", 6), Err(DecimalFault::TooPrecise));
        assert_eq!(sci("0.0000001", 6), Err(DecimalFault::TooPrecise));
        assert_eq!(sci("1e-9999999999", 6), Err(DecimalFault::TooPrecise));
    }

    #[test]
    fn too_large_is_refused() {
        assert_eq!(plain("999999999999999999999999999999999999999999", 6), Err(DecimalFault::TooLarge));
        assert_eq!(plain("-170141183460469231731687303715884105728", 0), Err(DecimalFault::TooLarge), "|i128::MIN| is not held");
        assert_eq!(plain("170141183460469231731687303715884105727", 0), Ok(i128::MAX));
        assert_eq!(sci("1e400", 0), Err(DecimalFault::TooLarge));
        assert_eq!(sci("0e400", 0), Ok(0), "zero at any exponent is zero");
    }

    /// The venue's numbers (the chain adapter's cases).
    #[test]
    fn scientific_reads_the_venues_numbers() {
        assert_eq!(sci("0.0003", 10), Ok(3_000_000));
        assert_eq!(sci("0.045", 10), Ok(450_000_000));
        assert_eq!(sci("1e-08", 10), Ok(100));
        assert_eq!(sci("2500", 10), Ok(25_000_000_000_000));
        assert_eq!(sci("1.5E+2", 6), Ok(150_000_000));
        assert_eq!(sci("-0.5", 6), Ok(-500_000));
        assert_eq!(sci("0", 6), Ok(0));
        assert_eq!(sci("100.000000000", 6), Ok(100_000_000));
        assert_eq!(sci("3e-09", 10), Ok(30));
        for s in ["abc", "", ".", "e5", ".e5", "1e", "1e+", "1ee2", "1e2.5", "1e99999999999999999999"] {
            assert_eq!(sci(s, 6), Err(DecimalFault::NotANumber), "{s:?}");
        }
    }

    #[test]
    fn formatting_is_the_shortest_exact_decimal() {
        assert_eq!(format_scaled(1_500_000, 6), "1.5");
        assert_eq!(format_scaled(-1, 6), "-0.000001");
        assert_eq!(format_scaled(100_000_000, 6), "100");
        assert_eq!(format_scaled(0, 10), "0");
        assert_eq!(format_scaled(42, 0), "42");
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_round_trips(units in (i128::MIN + 1)..=i128::MAX, scale in 0u32..=38) {
            let text = format_scaled(units, scale);
            prop_assert_eq!(plain(&text, scale), Ok(units), "{}", text);
            prop_assert_eq!(sci(&text, scale), Ok(units), "{}", text);
        }

        #[test]
        fn small_amounts_round_trip_at_every_money_scale(units in any::<i64>(), scale in prop::sample::select(vec![2u32, 3, 6, 10])) {
            let units = i128::from(units);
            prop_assert_eq!(plain(&format_scaled(units, scale), scale), Ok(units));
        }

        #[test]
        fn an_exponent_form_reads_as_the_plain_one(units in any::<i64>(), scale in 0u32..=18) {
            // `units e-scale` is the same number as its plain formatting.
            let units = i128::from(units);
            prop_assert_eq!(sci(&format!("{units}e-{scale}"), scale), Ok(units));
            prop_assert_eq!(sci(&format!("{units}E-{scale}"), scale), Ok(units));
        }

        #[test]
        fn one_more_digit_than_the_scale_is_refused(units in 0i64..i64::MAX / 10, last in 1i128..=9, scale in 0u32..=18) {
            let text = format_scaled(i128::from(units) * 10 + last, scale + 1);
            prop_assert_eq!(plain(&text, scale), Err(DecimalFault::TooPrecise), "{}", text);
            prop_assert_eq!(sci(&text, scale), Err(DecimalFault::TooPrecise), "{}", text);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*", scale in 0u32..=40) {
            let _ = plain(&s, scale);
            let _ = sci(&s, scale);
        }
    }
}
