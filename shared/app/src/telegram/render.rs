//! Formatting for replies (the `/pnl` chart is drawn in [`super::chart`]).

use vanta_domain::money::{Bps, SignedUsdc, Usdc};

use crate::pipeline::html_escape;

/// Escapes user-provided text for Telegram HTML.
pub fn esc(s: &str) -> String {
    html_escape(s).replace('"', "&quot;")
}

pub fn usd(x: Usdc) -> String {
    format!("${x}")
}

/// `+$1.5` / `-$2` / `$0`.
pub fn signed_usd(x: SignedUsdc) -> String {
    let s = x.to_string();
    match s.strip_prefix('-') {
        Some(abs) => format!("-${abs}"),
        None if x.raw() == 0 => "$0".to_owned(),
        None => format!("+${s}"),
    }
}

pub fn pct(b: Bps) -> String {
    format!("{}%", b.to_percent_string())
}

/// Seconds as `42s`, `5m`, `3h`, `2d`.
pub fn ago(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{}s", s.max(0)),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn money_formats() {
        assert_eq!(signed_usd(SignedUsdc::from_raw(-1_500_000)), "-$1.5");
        assert_eq!(signed_usd(SignedUsdc::from_raw(2_000_000)), "+$2");
        assert_eq!(signed_usd(SignedUsdc::ZERO), "$0");
        assert_eq!(esc("<b>\"x\" & y</b>"), "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;");
        assert_eq!(ago(30), "30s");
        assert_eq!(ago(7200), "2h");
    }
}

/// `YYYY-MM-DD HH:MM` in UTC (days-to-civil conversion, integers only).
pub fn utc(t: vanta_domain::time::Timestamp) -> String {
    let (year, month, day, h, m, _) = t.civil();
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}")
}

#[cfg(test)]
mod utc_tests {
    #[test]
    fn formats_utc_dates() {
        use vanta_domain::time::Timestamp;
        assert_eq!(super::utc(Timestamp(0)), "1970-01-01 00:00");
        assert_eq!(super::utc(Timestamp::from_secs(1_795_852_800)), "2026-11-28 08:00");
        assert_eq!(super::utc(Timestamp::from_secs(951_782_400 + 3_660)), "2000-02-29 01:01");
    }
}
