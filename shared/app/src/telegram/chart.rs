//! The `/pnl` chart: realised PnL per hour or day as green (profit) and red (loss) bars around a
//! zero line, with a title, dates on the x axis and USDC on the y axis, drawn by `plotters` into
//! an RGB buffer and encoded by `png`. Amounts stay integers (micro-USDC) down to the pixel.
//!
//! Lambda has no system fonts, so the text is drawn with DejaVu Sans, embedded in the binary
//! (`shared/app/assets/DejaVuSans.ttf`, licence beside it).

use std::sync::OnceLock;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};
use vanta_domain::money::SignedUsdc;
use vanta_domain::time::Timestamp;

/// The image size: readable on a phone, and what Telegram shows without cropping.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 480;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

pub const UP: RGBColor = RGBColor(46, 160, 67);
pub const DOWN: RGBColor = RGBColor(218, 54, 51);
const INK: RGBColor = RGBColor(40, 40, 40);
const GRID: RGBColor = RGBColor(225, 225, 225);
const BACKGROUND: RGBColor = RGBColor(255, 255, 255);
/// Bars are clipped to ±2^60 micro-USDC (far beyond any real PnL), so the axis maths cannot
/// overflow whatever the sums are.
const LIMIT: i64 = 1 << 60;

/// One `/pnl` chart.
pub struct PnlChart<'a> {
    pub title: String,
    /// Realised PnL (micro-USDC) per bucket, oldest first.
    pub buckets: &'a [i64],
    /// When the first bucket starts (ms since the epoch).
    pub start_ms: i64,
    /// A bucket's length (ms): under a day the x axis reads hours, else dates.
    pub bucket_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the chart font is unusable")]
    Font,
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("encoding the chart failed: {0}")]
    Encode(#[from] png::EncodingError),
}

fn clip(v: i64) -> i64 {
    v.clamp(-LIMIT, LIMIT)
}

/// Registers the embedded font once per process (plotters keeps a global registry).
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok())
}

impl PnlChart<'_> {
    /// The chart as a `WIDTH`×`HEIGHT` RGB PNG.
    pub fn png(&self) -> Result<Vec<u8>, ChartError> {
        let rgb = self.draw()?;
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::High);
        let mut w = enc.write_header()?;
        w.write_image_data(&rgb)?;
        w.finish()?;
        Ok(out)
    }

    /// The label of bucket `i`: `HH:00` for hourly buckets, `MM-DD` for daily ones (UTC).
    fn label(&self, i: usize) -> String {
        let offset = self.bucket_ms.saturating_mul(i64::try_from(i).unwrap_or(i64::MAX));
        let (_, month, day, hour, _, _) = Timestamp(self.start_ms.saturating_add(offset)).civil();
        if self.bucket_ms < 86_400_000 { format!("{hour:02}:00") } else { format!("{month:02}-{day:02}") }
    }

    fn x_description(&self) -> &'static str {
        if self.bucket_ms < 86_400_000 { "hour (UTC)" } else { "day (UTC)" }
    }

    /// The y range (micro-USDC): zero always inside, a little room above and below the bars.
    fn y_range(&self) -> (i64, i64) {
        let hi = self.buckets.iter().map(|v| clip(*v)).max().unwrap_or(0).max(0);
        let lo = self.buckets.iter().map(|v| clip(*v)).min().unwrap_or(0).min(0);
        if hi == lo {
            return (-1_000_000, 1_000_000); // no PnL at all: ±1 USDC around the zero line
        }
        let pad = (hi.saturating_sub(lo) / 10).max(1);
        (lo.saturating_sub(if lo < 0 { pad } else { 0 }), hi.saturating_add(if hi > 0 { pad } else { 0 }))
    }

    fn draw(&self) -> Result<Vec<u8>, ChartError> {
        if !font_ready() {
            return Err(ChartError::Font);
        }
        let draw_err = |e: &dyn std::fmt::Display| ChartError::Draw(e.to_string());
        let n = self.buckets.len().max(1);
        let (lo, hi) = self.y_range();
        let mut rgb = vec![0u8; usize::try_from(WIDTH * HEIGHT * 3).unwrap_or(0)];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&BACKGROUND).map_err(|e| draw_err(&e))?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, (FAMILY, 24).into_font().color(&INK))
                .margin(16)
                .x_label_area_size(48)
                .y_label_area_size(72)
                .build_cartesian_2d((0..n - 1).into_segmented(), lo..hi)
                .map_err(|e| draw_err(&e))?;
            let x_label = |x: &SegmentValue<usize>| match x {
                SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => self.label(*i),
                SegmentValue::Last => String::new(),
            };
            let y_label = |y: &i64| SignedUsdc::from_raw(*y).to_string();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(GRID)
                .axis_style(INK)
                .x_labels(n.min(12))
                .y_labels(8)
                .x_label_formatter(&x_label)
                .y_label_formatter(&y_label)
                .x_desc(self.x_description())
                .y_desc("USDC")
                .label_style((FAMILY, 14).into_font().color(&INK))
                .axis_desc_style((FAMILY, 15).into_font().color(&INK))
                .draw()
                .map_err(|e| draw_err(&e))?;
            // A gap of about a sixth of a bar's slot on each side.
            let gap = u32::try_from((WIDTH - 104) as usize / n / 6).unwrap_or(1).clamp(1, 16);
            let bars = self.buckets.iter().enumerate().filter(|(_, v)| **v != 0).map(|(i, v)| {
                let color = if *v > 0 { UP } else { DOWN };
                let right = if i + 1 < n { SegmentValue::Exact(i + 1) } else { SegmentValue::Last };
                let mut bar = Rectangle::new([(SegmentValue::Exact(i), 0), (right, clip(*v))], color.filled());
                bar.set_margin(0, 0, gap, gap);
                bar
            });
            chart.draw_series(bars).map_err(|e| draw_err(&e))?;
            let zero = PathElement::new(vec![(SegmentValue::Exact(0), 0), (SegmentValue::Last, 0)], INK.stroke_width(2));
            chart.draw_series(std::iter::once(zero)).map_err(|e| draw_err(&e))?;
            if self.buckets.iter().all(|v| *v == 0) {
                let note = (FAMILY, 18).into_font().color(&INK).pos(Pos::new(HPos::Center, VPos::Bottom));
                let middle = (i32::try_from(WIDTH / 2).unwrap_or(0), i32::try_from(HEIGHT / 2).unwrap_or(0) - 24);
                root.draw(&Text::new("No closed positions in this period", middle, note)).map_err(|e| draw_err(&e))?;
            }
            root.present().map_err(|e| draw_err(&e))?;
        }
        Ok(rgb)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2026-11-28 00:00 UTC.
    const T0: i64 = 1_795_824_000_000;

    fn decode(png_bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    fn count(rgb: &[u8], c: RGBColor) -> usize {
        rgb.chunks_exact(3).filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2).count()
    }

    #[test]
    fn mixed_pnl_draws_green_and_red_bars_on_a_png_of_the_right_size() {
        let buckets = [5_000_000, -2_000_000, 0, 12_500_000, -700_000, 0, 3_000_000];
        let chart = PnlChart { title: "Realised PnL, last 7 days".into(), buckets: &buckets, start_ms: T0, bucket_ms: DAY };
        let png_bytes = chart.png().unwrap();
        let (info, rgb) = decode(&png_bytes);
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let (green, red) = (count(&rgb, UP), count(&rgb, DOWN));
        assert!(green > 1_000 && red > 200, "green {green}, red {red}");
        // The biggest bar is the biggest patch of green: bars scale with the PnL.
        assert!(green > 4 * red, "green {green}, red {red}");
        // Text was drawn (anti-aliased glyphs leave grey pixels that no bar or line has).
        let grey = rgb.chunks_exact(3).filter(|p| p[0] == p[1] && p[1] == p[2] && p[0] > 60 && p[0] < 200).count();
        assert!(grey > 200, "labels drawn: {grey}");
    }

    #[test]
    fn only_gains_have_no_red_and_only_losses_no_green() {
        let up = PnlChart { title: "t".into(), buckets: &[1, 2, 3], start_ms: T0, bucket_ms: 3_600_000 };
        let (_, rgb) = decode(&up.png().unwrap());
        assert!(count(&rgb, UP) > 0 && count(&rgb, DOWN) == 0);
        let down = PnlChart { title: "t".into(), buckets: &[-1, -2_000_000], start_ms: T0, bucket_ms: 3_600_000 };
        let (_, rgb) = decode(&down.png().unwrap());
        assert!(count(&rgb, DOWN) > 0 && count(&rgb, UP) == 0);
    }

    #[test]
    fn an_empty_history_still_gives_a_readable_chart() {
        for buckets in [&[0i64; 24][..], &[][..]] {
            let chart = PnlChart { title: "Realised PnL, last 24 hours".into(), buckets, start_ms: T0, bucket_ms: 3_600_000 };
            let (info, rgb) = decode(&chart.png().unwrap());
            assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
            assert_eq!(count(&rgb, UP) + count(&rgb, DOWN), 0);
            assert!(count(&rgb, INK) > 500, "axes, zero line and the note are drawn");
        }
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let chart = PnlChart { title: "x".into(), buckets: &[i64::MAX, i64::MIN, 0], start_ms: i64::MAX, bucket_ms: i64::MAX };
        let _ = chart.png();
    }

    #[test]
    fn labels_read_hours_or_dates() {
        let hours = PnlChart { title: String::new(), buckets: &[], start_ms: T0, bucket_ms: 3_600_000 };
        assert_eq!(hours.label(0), "00:00");
        assert_eq!(hours.label(13), "13:00");
        let days = PnlChart { title: String::new(), buckets: &[], start_ms: T0, bucket_ms: DAY };
        assert_eq!(days.label(0), "11-28");
        assert_eq!(days.label(3), "12-01");
    }
}
