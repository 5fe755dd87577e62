//! SVG primitives: escaping, linear scales, tick choice, and a small element writer.
//!
//! Every string that reaches the output goes through [`esc`], so text from the ledger (member
//! names, rule names, reasons) can never open a tag or an attribute, in HTML or in SVG.

use std::fmt::Write as _;

/// Escape `s` for use as XML/HTML text or a quoted attribute value.
///
/// `& < > " '` become entities. Characters XML 1.0 forbids (C0 controls other than tab, newline
/// and carriage return, and U+FFFE/U+FFFF) become U+FFFD, so a standalone SVG stays well-formed
/// for rasterizers that parse strictly.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.push('\u{fffd}')
            }
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or length as SVG text: two decimals at most, never NaN or infinite.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A value for an axis label: short, with precision adapted to the tick step.
pub fn tick_label(v: f64, step: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let decimals = if step >= 1.0 || step <= 0.0 || !step.is_finite() {
        0
    } else {
        // libm would be needed in consensus code; this is display only.
        (-step.log10()).ceil().clamp(0.0, 6.0) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.starts_with("-0") && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// A linear map from a data interval to a pixel interval.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    /// Map `[d0, d1]` onto `[r0, r1]`. A degenerate or non-finite domain is widened so that
    /// every value maps to a finite pixel.
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        let (d0, d1) = if d0.is_finite() && d1.is_finite() {
            (d0, d1)
        } else {
            (0.0, 1.0)
        };
        let (d0, d1) = if d1 > d0 {
            (d0, d1)
        } else if d1 < d0 {
            (d1, d0)
        } else {
            (d0 - 0.5, d1 + 0.5)
        };
        Scale { d0, d1, r0, r1 }
    }

    /// The pixel of `v` (values outside the domain are clamped to it).
    pub fn map(&self, v: f64) -> f64 {
        let v = if v.is_finite() {
            v.clamp(self.d0, self.d1)
        } else {
            self.d0
        };
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }

    /// The domain.
    pub fn domain(&self) -> (f64, f64) {
        (self.d0, self.d1)
    }
}

/// "Nice" tick values (steps of 1, 2 or 5 times a power of ten) covering `[lo, hi]`, at most
/// about `max` of them; returns the ticks and the step.
pub fn nice_ticks(lo: f64, hi: f64, max: usize) -> (Vec<f64>, f64) {
    if !lo.is_finite() || !hi.is_finite() || max == 0 {
        return (Vec::new(), 1.0);
    }
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let raw = (hi - lo) / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil();
    let last = (hi / step).floor();
    let count = (last - first).max(0.0) as usize;
    let ticks = (0..=count.min(1000))
        .map(|i| (first + i as f64) * step)
        .filter(|t| *t >= lo - step * 1e-9 && *t <= hi + step * 1e-9)
        .collect();
    (ticks, step)
}

/// Integer ticks (rounds, heights) within `[lo, hi]`, at most about `max` of them.
pub fn int_ticks(lo: u64, hi: u64, max: usize) -> Vec<u64> {
    if hi <= lo {
        return vec![lo];
    }
    let (ticks, step) = nice_ticks(lo as f64, hi as f64, max);
    let step = step.max(1.0);
    let mut out: Vec<u64> = ticks
        .into_iter()
        .map(|t| (t / step).round() * step)
        .filter(|t| *t >= lo as f64 && *t <= hi as f64)
        .map(|t| t as u64)
        .collect();
    out.dedup();
    out
}

/// Text anchoring.
#[derive(Debug, Clone, Copy)]
pub enum Anchor {
    /// Left-aligned.
    Start,
    /// Centered.
    Middle,
    /// Right-aligned.
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// Stroke style for lines and polylines.
#[derive(Debug, Clone, Copy)]
pub struct Stroke<'a> {
    /// Color.
    pub color: &'a str,
    /// Width in pixels.
    pub width: f64,
    /// Dash pattern (`stroke-dasharray`), if any.
    pub dash: Option<&'a str>,
}

impl<'a> Stroke<'a> {
    /// A solid stroke.
    pub fn solid(color: &'a str, width: f64) -> Self {
        Stroke {
            color,
            width,
            dash: None,
        }
    }

    /// A dashed stroke.
    pub fn dashed(color: &'a str, width: f64) -> Self {
        Stroke {
            color,
            width,
            dash: Some("6 4"),
        }
    }

    fn attrs(&self) -> String {
        let mut s = format!(
            r#" stroke="{}" stroke-width="{}""#,
            esc(self.color),
            num(self.width)
        );
        if let Some(d) = self.dash {
            let _ = write!(s, r#" stroke-dasharray="{}""#, esc(d));
        }
        s
    }
}

/// A standalone SVG document under construction.
#[derive(Debug)]
pub struct Svg {
    buf: String,
    height: f64,
}

impl Svg {
    /// An SVG of `width x height` pixels with an accessible title and a white background.
    pub fn new(width: f64, height: f64, title: &str) -> Self {
        let mut buf = String::with_capacity(16 * 1024);
        let _ = write!(
            buf,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{t}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12"><title>{t}</title><rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##,
            w = num(width),
            h = num(height),
            t = esc(title)
        );
        Svg { buf, height }
    }

    /// Height in pixels.
    pub fn height(&self) -> f64 {
        self.height
    }

    /// A straight line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: Stroke<'_>) {
        let _ = write!(
            self.buf,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}"{}/>"#,
            num(x1),
            num(y1),
            num(x2),
            num(y2),
            stroke.attrs()
        );
    }

    /// A filled rectangle with an optional tooltip.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, tooltip: Option<&str>) {
        let _ = write!(
            self.buf,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}""#,
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0)),
            esc(fill)
        );
        self.close_with_tooltip("rect", tooltip);
    }

    /// An outlined rectangle (no fill).
    pub fn frame(&mut self, x: f64, y: f64, w: f64, h: f64, stroke: Stroke<'_>) {
        let _ = write!(
            self.buf,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none"{}/>"#,
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0)),
            stroke.attrs()
        );
    }

    /// A polyline through `points` (no fill).
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: Stroke<'_>) {
        if points.is_empty() {
            return;
        }
        self.buf.push_str(r#"<polyline fill="none" points=""#);
        for (i, (x, y)) in points.iter().enumerate() {
            if i > 0 {
                self.buf.push(' ');
            }
            let _ = write!(self.buf, "{},{}", num(*x), num(*y));
        }
        let _ = write!(self.buf, r#""{} stroke-linejoin="round"/>"#, stroke.attrs());
    }

    /// A circle with an optional tooltip.
    pub fn circle(&mut self, cx: f64, cy: f64, r: f64, fill: &str, tooltip: Option<&str>) {
        let _ = write!(
            self.buf,
            r#"<circle cx="{}" cy="{}" r="{}" fill="{}""#,
            num(cx),
            num(cy),
            num(r),
            esc(fill)
        );
        self.close_with_tooltip("circle", tooltip);
    }

    /// Text at (x, y) (baseline), `size` pixels, optionally bold and rotated by -90 degrees.
    pub fn text(&mut self, x: f64, y: f64, s: &str, style: TextStyle<'_>) {
        let mut attrs = format!(
            r#" x="{}" y="{}" font-size="{}" text-anchor="{}" fill="{}""#,
            num(x),
            num(y),
            num(style.size),
            style.anchor.as_str(),
            esc(style.color)
        );
        if style.bold {
            attrs.push_str(r#" font-weight="bold""#);
        }
        if style.vertical {
            let _ = write!(attrs, r#" transform="rotate(-90 {} {})""#, num(x), num(y));
        }
        let _ = write!(self.buf, "<text{attrs}>{}</text>", esc(s));
    }

    fn close_with_tooltip(&mut self, tag: &str, tooltip: Option<&str>) {
        match tooltip {
            Some(t) => {
                let _ = write!(self.buf, "><title>{}</title></{tag}>", esc(t));
            }
            None => self.buf.push_str("/>"),
        }
    }

    /// The document.
    pub fn finish(mut self) -> String {
        self.buf.push_str("</svg>");
        self.buf
    }
}

/// How text is drawn.
#[derive(Debug, Clone, Copy)]
pub struct TextStyle<'a> {
    /// Font size in pixels.
    pub size: f64,
    /// Anchoring.
    pub anchor: Anchor,
    /// Bold weight.
    pub bold: bool,
    /// Rotated to read bottom-up (y-axis labels).
    pub vertical: bool,
    /// Fill color.
    pub color: &'a str,
}

impl<'a> TextStyle<'a> {
    /// Normal dark text of `size` pixels anchored at `anchor`.
    pub fn new(size: f64, anchor: Anchor) -> Self {
        TextStyle {
            size,
            anchor,
            bold: false,
            vertical: false,
            color: "#222222",
        }
    }

    /// Bold.
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }

    /// Rotated -90 degrees.
    pub fn vertical(mut self) -> Self {
        self.vertical = true;
        self
    }

    /// In `color`.
    pub fn color(mut self, color: &'a str) -> Self {
        self.color = color;
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup_and_control_characters() {
        assert_eq!(
            esc(r#"<script>alert("x&y's")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;y&#39;s&quot;)&lt;/script&gt;"
        );
        assert_eq!(esc("a\u{0}b\u{1b}c\td"), "a\u{fffd}b\u{fffd}c\td");
        assert_eq!(esc("Banque Fédérale"), "Banque Fédérale");
    }

    #[test]
    fn text_and_attributes_from_callers_are_escaped() {
        let mut s = Svg::new(100.0, 50.0, "t\"itle<");
        s.text(
            1.0,
            2.0,
            "<img src=x onerror=alert(1)>",
            TextStyle::new(12.0, Anchor::Start),
        );
        s.rect(
            0.0,
            0.0,
            1.0,
            1.0,
            "red\" onload=\"x",
            Some("</title><script>"),
        );
        let out = s.finish();
        assert!(!out.contains("<img"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("\" onload"), "{out}");
        assert!(out.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(out.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(out.ends_with("</svg>"));
    }

    #[test]
    fn scale_maps_linearly_clamps_and_survives_degenerate_domains() {
        let s = Scale::new(0.0, 10.0, 100.0, 200.0);
        assert_eq!(s.map(0.0), 100.0);
        assert_eq!(s.map(5.0), 150.0);
        assert_eq!(s.map(10.0), 200.0);
        assert_eq!(s.map(20.0), 200.0, "clamped");
        assert_eq!(s.map(f64::NAN), 100.0, "non-finite maps to the start");
        // Inverted pixel range (y axes grow downwards).
        let y = Scale::new(0.0, 1.0, 300.0, 50.0);
        assert_eq!(y.map(1.0), 50.0);
        assert_eq!(y.map(0.25), 237.5);
        // A single value still maps inside the range.
        let d = Scale::new(3.0, 3.0, 0.0, 10.0);
        assert_eq!(d.map(3.0), 5.0);
        let n = Scale::new(f64::NAN, f64::INFINITY, 0.0, 10.0);
        assert!(n.map(0.5).is_finite());
    }

    #[test]
    fn ticks_are_round_numbers_inside_the_domain() {
        let (t, step) = nice_ticks(0.0, 1.0, 5);
        assert_eq!(step, 0.2);
        assert_eq!(t.len(), 6);
        assert!((t[5] - 1.0).abs() < 1e-12);
        let (t, step) = nice_ticks(0.0, 7.3, 5);
        assert_eq!(step, 2.0);
        assert_eq!(t, vec![0.0, 2.0, 4.0, 6.0]);
        assert_eq!(int_ticks(1, 6, 6), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(int_ticks(1, 1000, 5), vec![200, 400, 600, 800, 1000]);
        assert_eq!(int_ticks(4, 4, 5), vec![4]);
        assert!(nice_ticks(f64::NAN, 1.0, 5).0.is_empty());
    }

    #[test]
    fn numbers_are_compact_and_finite() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.256), "1.26");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(tick_label(0.6000000001, 0.2), "0.6");
        assert_eq!(tick_label(2.0, 2.0), "2");
        assert_eq!(tick_label(0.05, 0.05), "0.05");
    }
}
