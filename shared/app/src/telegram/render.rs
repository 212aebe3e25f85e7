//! Formatting for replies, and a tiny PNG encoder for the PnL chart (stored deflate blocks, no
//! compression library, no network).

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

// ---------------------------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------------------------

const BG: [u8; 3] = [250, 250, 250];
const UP: [u8; 3] = [46, 160, 67];
const DOWN: [u8; 3] = [218, 54, 51];
const AXIS: [u8; 3] = [110, 110, 110];

/// A bar chart of `values` (one bar each, green up, red down, a zero axis) as a PNG.
pub fn bar_chart_png(values: &[i64], width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width.clamp(16, 2000) as usize, height.clamp(16, 2000) as usize);
    let mut px = vec![BG; w * h];
    let margin = 6usize;
    let plot_h = h.saturating_sub(2 * margin).max(2);
    let max_up = values.iter().copied().filter(|v| *v > 0).max().unwrap_or(0).unsigned_abs();
    let max_down = values.iter().copied().filter(|v| *v < 0).min().unwrap_or(0).unsigned_abs();
    let span = u128::from(max_up) + u128::from(max_down);
    // The zero line: proportional to how much of the range is above zero.
    let zero_y = match (u128::from(max_up) * plot_h as u128).checked_div(span) {
        Some(v) => margin + usize::try_from(v).unwrap_or(0),
        None => margin + plot_h / 2,
    };
    let zero_y = zero_y.min(h.saturating_sub(margin + 1));
    let n = values.len().max(1);
    let plot_w = w.saturating_sub(2 * margin).max(1);
    let slot = (plot_w / n).max(1);
    let bar = (slot * 3 / 4).max(1);
    let mut set = |x: usize, y: usize, c: [u8; 3]| {
        if let Some(p) = px.get_mut(y * w + x)
            && x < w
        {
            *p = c;
        }
    };
    for (i, v) in values.iter().enumerate() {
        let x0 = margin + i * slot + (slot - bar) / 2;
        let len = (u128::from(v.unsigned_abs()) * plot_h as u128).checked_div(span).map_or(0, |x| usize::try_from(x).unwrap_or(0));
        let (y0, y1, c) = if *v >= 0 { (zero_y.saturating_sub(len), zero_y, UP) } else { (zero_y, zero_y + len, DOWN) };
        for y in y0..y1.min(h) {
            for x in x0..(x0 + bar).min(w) {
                set(x, y, c);
            }
        }
    }
    for x in margin..w.saturating_sub(margin) {
        set(x, zero_y, AXIS);
    }
    let mut raw = Vec::with_capacity(h * (1 + 3 * w));
    for row in px.chunks(w) {
        raw.push(0); // filter: none
        for p in row {
            raw.extend_from_slice(p);
        }
    }
    encode_png(w as u32, h as u32, &raw)
}

/// A PNG of 8-bit RGB rows (each already prefixed with its filter byte).
fn encode_png(width: u32, height: u32, filtered_rows: &[u8]) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter method, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(filtered_rows));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_be_bytes());
}

/// zlib with stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for x in chunk {
            a += u32::from(*x);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn chart_is_a_well_formed_png() {
        let png = bar_chart_png(&[5_000_000, -2_000_000, 0, 12_000_000], 240, 120);
        assert_eq!(&png[..8], &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 240);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 120);
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        // Every chunk's CRC checks out.
        let mut i = 8;
        while i < png.len() {
            let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
            let crc = u32::from_be_bytes(png[i + 8 + len..i + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&png[i + 4..i + 8 + len]));
            i += 12 + len;
        }
        assert_eq!(i, png.len());
        // Empty and flat series still render.
        assert!(bar_chart_png(&[], 100, 50).len() > 50);
        assert!(bar_chart_png(&[0, 0], 100, 50).len() > 50);
    }

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
