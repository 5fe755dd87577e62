//! The report's chart kinds as SVG: line charts over rounds, a round x member heatmap, and a
//! membership timeline. Each returns a standalone SVG document.

use super::svg::{int_ticks, nice_ticks, tick_label, Anchor, Scale, Stroke, Svg, TextStyle};

/// Chart width in pixels (fits an A4-ish page column).
pub const WIDTH: f64 = 900.0;
const LEFT: f64 = 70.0;
const LEGEND_W: f64 = 210.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 52.0;
const AXIS: &str = "#555555";
const GRID: &str = "#e6e6e6";
const MUTED: &str = "#666666";

/// A categorical palette (Tableau 10), distinguishable and print-friendly.
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// The color of series `i`.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// One line: its label, color, dash, and one optional value per x (None leaves a gap).
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Stroke color.
    pub color: &'static str,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// (x, y) points in x order; `None` breaks the line.
    pub points: Vec<(u64, Option<f64>)>,
}

/// A horizontal reference line (e.g. a privacy cap).
#[derive(Debug, Clone)]
pub struct HLine {
    /// Legend label.
    pub label: String,
    /// Color.
    pub color: &'static str,
    /// The y value.
    pub y: f64,
}

/// A line chart over rounds.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Y-axis label.
    pub y_label: String,
    /// Fixed y domain, or `None` to fit the data (and reference lines), starting at 0.
    pub y_domain: Option<(f64, f64)>,
    /// The x domain (first and last round).
    pub x_domain: (u64, u64),
    /// The lines.
    pub series: Vec<Series>,
    /// Reference lines, drawn dashed.
    pub hlines: Vec<HLine>,
}

fn title(svg: &mut Svg, title: &str, subtitle: Option<&str>) {
    svg.text(
        LEFT,
        22.0,
        title,
        TextStyle::new(15.0, Anchor::Start).bold(),
    );
    if let Some(s) = subtitle {
        svg.text(
            LEFT,
            37.0,
            s,
            TextStyle::new(11.0, Anchor::Start).color(MUTED),
        );
    }
}

/// A chart that only says why it is empty (still an SVG, so the page layout is stable).
pub fn empty(chart_title: &str, why: &str) -> String {
    let mut svg = Svg::new(WIDTH, 120.0, chart_title);
    title(&mut svg, chart_title, None);
    svg.text(
        WIDTH / 2.0,
        80.0,
        why,
        TextStyle::new(13.0, Anchor::Middle).color(MUTED),
    );
    svg.finish()
}

fn legend(svg: &mut Svg, x: f64, y: f64, items: &[(String, &str, bool)]) {
    let max_items = ((svg.height() - y - 10.0) / 18.0).max(1.0) as usize;
    for (i, (label, color, dashed)) in items.iter().take(max_items).enumerate() {
        let ly = y + i as f64 * 18.0;
        let stroke = if *dashed {
            Stroke::dashed(color, 2.5)
        } else {
            Stroke::solid(color, 2.5)
        };
        svg.line(x, ly - 4.0, x + 24.0, ly - 4.0, stroke);
        svg.text(
            x + 30.0,
            ly,
            &truncate(label, 26),
            TextStyle::new(11.0, Anchor::Start),
        );
    }
    if items.len() > max_items {
        let ly = y + max_items as f64 * 18.0;
        svg.text(
            x,
            ly,
            &format!("… and {} more", items.len() - max_items),
            TextStyle::new(11.0, Anchor::Start).color(MUTED),
        );
    }
}

/// Shorten `s` to `n` characters with an ellipsis (the full text stays in tooltips/tables).
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(1)).chain(['…']).collect()
    }
}

fn x_axis(svg: &mut Svg, x: &Scale, y0: f64, label: &str, lo: u64, hi: u64) {
    let right = x.map(hi as f64);
    svg.line(
        x.map(lo as f64),
        y0,
        right.max(x.map(lo as f64)),
        y0,
        Stroke::solid(AXIS, 1.0),
    );
    for t in int_ticks(lo, hi, 8) {
        let px = x.map(t as f64);
        svg.line(px, y0, px, y0 + 5.0, Stroke::solid(AXIS, 1.0));
        svg.text(
            px,
            y0 + 18.0,
            &t.to_string(),
            TextStyle::new(11.0, Anchor::Middle),
        );
    }
    let (r0, _) = (x.map(lo as f64), ());
    svg.text(
        (r0 + right) / 2.0,
        y0 + 38.0,
        label,
        TextStyle::new(12.0, Anchor::Middle),
    );
}

/// Draw a line chart.
pub fn line_chart(c: &LineChart) -> String {
    let height = 340.0;
    let mut svg = Svg::new(WIDTH, height, &c.title);
    title(&mut svg, &c.title, None);
    let plot_right = WIDTH - LEGEND_W;
    let plot_bottom = height - BOTTOM;
    let (x_lo, x_hi) = c.x_domain;
    let x = Scale::new(x_lo as f64, x_hi.max(x_lo) as f64, LEFT, plot_right);
    let values = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .chain(c.hlines.iter().map(|h| h.y))
        .filter(|v| v.is_finite());
    let (y_lo, y_hi) = match c.y_domain {
        Some(d) => d,
        None => {
            let (lo, hi) = values.fold((0.0f64, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            let hi = if hi.is_finite() && hi > lo {
                hi
            } else {
                lo + 1.0
            };
            let (_, step) = nice_ticks(lo, hi, 5);
            (lo, (hi / step).ceil() * step)
        }
    };
    let y = Scale::new(y_lo, y_hi, plot_bottom, TOP + 10.0);
    let (ticks, step) = nice_ticks(y.domain().0, y.domain().1, 5);
    for t in &ticks {
        let py = y.map(*t);
        svg.line(LEFT, py, plot_right, py, Stroke::solid(GRID, 1.0));
        svg.text(
            LEFT - 8.0,
            py + 4.0,
            &tick_label(*t, step),
            TextStyle::new(11.0, Anchor::End),
        );
    }
    svg.line(
        LEFT,
        TOP + 10.0,
        LEFT,
        plot_bottom,
        Stroke::solid(AXIS, 1.0),
    );
    svg.text(
        18.0,
        (TOP + 10.0 + plot_bottom) / 2.0,
        &c.y_label,
        TextStyle::new(12.0, Anchor::Middle).vertical(),
    );
    x_axis(
        &mut svg,
        &x,
        plot_bottom,
        "round (block height)",
        x_lo,
        x_hi.max(x_lo),
    );

    for h in &c.hlines {
        let py = y.map(h.y);
        svg.line(LEFT, py, plot_right, py, Stroke::dashed(h.color, 1.5));
    }
    for s in &c.series {
        let stroke = if s.dashed {
            Stroke::dashed(s.color, 2.0)
        } else {
            Stroke::solid(s.color, 2.0)
        };
        let mut segment: Vec<(f64, f64)> = Vec::new();
        let markers = s.points.len() <= 60;
        for (px, py) in &s.points {
            match py.filter(|v| v.is_finite()) {
                Some(v) => {
                    let p = (x.map(*px as f64), y.map(v));
                    if markers {
                        svg.circle(
                            p.0,
                            p.1,
                            2.8,
                            s.color,
                            Some(&format!("{} — round {px}: {v:.4}", s.label)),
                        );
                    }
                    segment.push(p);
                }
                None => {
                    svg.polyline(&segment, stroke);
                    segment.clear();
                }
            }
        }
        svg.polyline(&segment, stroke);
    }
    let mut items: Vec<(String, &str, bool)> = c
        .series
        .iter()
        .map(|s| (s.label.clone(), s.color, s.dashed))
        .collect();
    items.extend(c.hlines.iter().map(|h| (h.label.clone(), h.color, true)));
    legend(&mut svg, plot_right + 20.0, TOP + 16.0, &items);
    svg.finish()
}

/// The state of a member in a round (or a bucket of rounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    /// Not a validator then.
    NotMember,
    /// A validator that sent no update.
    Absent,
    /// Its update was aggregated.
    Included,
    /// Its update was excluded by the rule.
    Excluded,
}

impl Cell {
    fn fill(self) -> &'static str {
        match self {
            Cell::NotMember => "#f4f4f4",
            Cell::Absent => "#c9c9c9",
            Cell::Included => "#59a14f",
            Cell::Excluded => "#e15759",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cell::NotMember => "not a member",
            Cell::Absent => "absent (no update)",
            Cell::Included => "included",
            Cell::Excluded => "excluded",
        }
    }
}

/// Members x rounds. Columns are single rounds or, for long ledgers, buckets of rounds.
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// Title.
    pub title: String,
    /// Row labels (members).
    pub rows: Vec<String>,
    /// Column round ranges, inclusive.
    pub columns: Vec<(u64, u64)>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<Cell>>,
}

/// Draw the contribution heatmap.
pub fn heatmap(h: &Heatmap) -> String {
    let row_h = 22.0;
    let left = 190.0;
    let top = TOP + 34.0;
    let height = top + row_h * h.rows.len() as f64 + BOTTOM + 8.0;
    let mut svg = Svg::new(WIDTH, height, &h.title);
    let bucketed = h.columns.iter().any(|(a, b)| b > a);
    let sub = if bucketed {
        "each column is a range of rounds: excluded if any update in it was excluded, else included if any was aggregated"
    } else {
        "one column per round"
    };
    title(&mut svg, &h.title, Some(sub));
    // Legend in one row under the title.
    let mut lx = left;
    for c in [
        Cell::Included,
        Cell::Excluded,
        Cell::Absent,
        Cell::NotMember,
    ] {
        svg.rect(lx, TOP + 6.0, 14.0, 14.0, c.fill(), None);
        svg.frame(lx, TOP + 6.0, 14.0, 14.0, Stroke::solid("#bbbbbb", 0.5));
        svg.text(
            lx + 20.0,
            TOP + 17.0,
            c.name(),
            TextStyle::new(11.0, Anchor::Start),
        );
        lx += 150.0;
    }
    let right = WIDTH - 20.0;
    let n = h.columns.len().max(1) as f64;
    let cw = (right - left) / n;
    let gap = if cw > 6.0 { 1.0 } else { 0.0 };
    for (r, label) in h.rows.iter().enumerate() {
        let y = top + r as f64 * row_h;
        svg.text(
            left - 8.0,
            y + row_h * 0.68,
            &truncate(label, 28),
            TextStyle::new(11.0, Anchor::End),
        );
        for (c, (a, b)) in h.columns.iter().enumerate() {
            let cell = h
                .cells
                .get(r)
                .and_then(|row| row.get(c))
                .copied()
                .unwrap_or(Cell::NotMember);
            let rounds = if a == b {
                format!("round {a}")
            } else {
                format!("rounds {a}–{b}")
            };
            let tip = format!("{label}, {rounds}: {}", cell.name());
            svg.rect(
                left + c as f64 * cw,
                y + 1.0,
                cw - gap,
                row_h - 2.0,
                cell.fill(),
                Some(&tip),
            );
        }
    }
    let y0 = top + row_h * h.rows.len() as f64 + 2.0;
    if let (Some(first), Some(last)) = (h.columns.first(), h.columns.last()) {
        let lo = first.0;
        let hi = last.1;
        // Ticks at column centers of the rounds they name.
        let col_of = |round: u64| {
            h.columns
                .iter()
                .position(|(a, b)| *a <= round && round <= *b)
                .unwrap_or(0)
        };
        for t in int_ticks(lo, hi, 10) {
            let px = left + (col_of(t) as f64 + 0.5) * cw;
            svg.line(px, y0, px, y0 + 5.0, Stroke::solid(AXIS, 1.0));
            svg.text(
                px,
                y0 + 18.0,
                &t.to_string(),
                TextStyle::new(11.0, Anchor::Middle),
            );
        }
        svg.text(
            (left + right) / 2.0,
            y0 + 38.0,
            "round (block height)",
            TextStyle::new(12.0, Anchor::Middle),
        );
    }
    svg.finish()
}

/// A membership event drawn on the timeline.
#[derive(Debug, Clone)]
pub struct TimelineEvent {
    /// Height of the block that recorded it.
    pub recorded: u64,
    /// Height from which it applies.
    pub effective: u64,
    /// `true` for a join, `false` for a leave.
    pub join: bool,
}

/// One member's row: when it validated, and its recorded changes.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    /// Label.
    pub label: String,
    /// Color.
    pub color: &'static str,
    /// Validator span [from, to) in heights (to = end of the verified prefix + 1 if still in).
    pub span: (u64, u64),
    /// Joins and leaves.
    pub events: Vec<TimelineEvent>,
}

/// Draw the membership timeline: a bar per member from the height it started validating to the
/// height it stopped, with hollow markers where a change was recorded and filled ones where it
/// took effect.
pub fn timeline(chart_title: &str, rows: &[TimelineRow], last_height: u64) -> String {
    let row_h = 24.0;
    let left = 190.0;
    let top = TOP + 34.0;
    let height = top + row_h * rows.len() as f64 + BOTTOM + 8.0;
    let mut svg = Svg::new(WIDTH, height, chart_title);
    title(
        &mut svg,
        chart_title,
        Some("bar: heights at which the member validated; ○ change recorded, ● change effective"),
    );
    let right = WIDTH - 30.0;
    let hi = last_height.max(1);
    let x = Scale::new(0.0, hi as f64 + 1.0, left, right);
    // Legend.
    let items: [(&str, &str); 2] = [("join", "#2e7d32"), ("leave", "#c62828")];
    for (i, (name, col)) in items.iter().enumerate() {
        let lx = left + i as f64 * 120.0;
        svg.circle(lx + 6.0, TOP + 12.0, 5.0, col, None);
        svg.text(
            lx + 16.0,
            TOP + 16.0,
            name,
            TextStyle::new(11.0, Anchor::Start),
        );
    }
    for (r, row) in rows.iter().enumerate() {
        let y = top + r as f64 * row_h;
        let mid = y + row_h / 2.0;
        svg.line(left, mid, right, mid, Stroke::solid(GRID, 1.0));
        svg.text(
            left - 8.0,
            mid + 4.0,
            &truncate(&row.label, 28),
            TextStyle::new(11.0, Anchor::End),
        );
        let (a, b) = row.span;
        if b > a {
            let tip = format!(
                "{}: validator from height {} to {}",
                row.label,
                a,
                b.saturating_sub(1)
            );
            svg.rect(
                x.map(a as f64),
                mid - 6.0,
                x.map(b as f64) - x.map(a as f64),
                12.0,
                row.color,
                Some(&tip),
            );
        }
        for e in &row.events {
            let (word, col) = if e.join {
                ("join", "#2e7d32")
            } else {
                ("leave", "#c62828")
            };
            let rx = x.map(e.recorded as f64);
            let ex = x.map(e.effective as f64);
            svg.line(rx, mid, ex, mid, Stroke::dashed(col, 1.5));
            svg.circle(
                rx,
                mid,
                5.0,
                col,
                Some(&format!(
                    "{word} of {} recorded at height {}",
                    row.label, e.recorded
                )),
            );
            svg.circle(rx, mid, 3.0, "#ffffff", None);
            svg.circle(
                ex,
                mid,
                5.0,
                col,
                Some(&format!(
                    "{word} of {} effective at height {}",
                    row.label, e.effective
                )),
            );
        }
    }
    let y0 = top + row_h * rows.len() as f64 + 2.0;
    x_axis(&mut svg, &x, y0, "block height", 0, hi);
    svg.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn line_chart_draws_each_series_breaks_gaps_and_escapes_labels() {
        let c = LineChart {
            title: "Accuracy <b>".into(),
            y_label: "value".into(),
            y_domain: Some((0.0, 1.0)),
            x_domain: (1, 4),
            series: vec![Series {
                label: "<script>alert(1)</script>".into(),
                color: color(0),
                dashed: false,
                points: vec![(1, Some(0.5)), (2, None), (3, Some(0.7)), (4, Some(0.9))],
            }],
            hlines: vec![HLine {
                label: "cap".into(),
                color: color(1),
                y: 0.8,
            }],
        };
        let s = line_chart(&c);
        assert!(!s.contains("<script"), "{s}");
        assert!(!s.contains("<b>"));
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // The gap splits the series into a 1-point and a 2-point polyline.
        assert_eq!(count(&s, "<polyline"), 2);
        assert_eq!(count(&s, "<circle"), 3, "a marker per defined point");
        assert!(s.contains("stroke-dasharray"), "the cap is dashed");
        // y = 0.5 on [0, 1] maps to the middle of the plot: (288 + 54) / 2.
        assert!(s.contains(r#"cy="171""#), "{s}");
        assert!(s.contains(">round (block height)<"));
    }

    #[test]
    fn line_chart_fits_the_domain_to_data_and_reference_lines() {
        let c = LineChart {
            title: "eps".into(),
            y_label: "epsilon".into(),
            y_domain: None,
            x_domain: (1, 2),
            series: vec![Series {
                label: "a".into(),
                color: color(0),
                dashed: false,
                points: vec![(1, Some(1.0)), (2, Some(f64::NAN))],
            }],
            hlines: vec![HLine {
                label: "cap".into(),
                color: color(0),
                y: 7.0,
            }],
        };
        let s = line_chart(&c);
        // The domain grows to include the cap (7) up to the next nice tick (8).
        assert!(s.contains(">8<"), "{s}");
        assert!(!s.contains("NaN"));
    }

    #[test]
    fn heatmap_has_a_cell_per_member_and_round_with_its_state() {
        let h = Heatmap {
            title: "contributions".into(),
            rows: vec!["a".into(), "<i>b</i>".into()],
            columns: vec![(1, 1), (2, 2), (3, 3)],
            cells: vec![
                vec![Cell::Included, Cell::Excluded, Cell::Absent],
                vec![Cell::NotMember, Cell::Included, Cell::Included],
            ],
        };
        let s = heatmap(&h);
        assert_eq!(count(&s, "a, round 2: excluded"), 1);
        assert_eq!(count(&s, ": included</title>"), 3);
        assert!(s.contains("&lt;i&gt;b&lt;/i&gt;, round 1: not a member"));
        assert!(!s.contains("<i>"));
    }

    #[test]
    fn timeline_marks_recorded_and_effective_heights() {
        let rows = vec![TimelineRow {
            label: "joiner".into(),
            color: color(2),
            span: (5, 9),
            events: vec![TimelineEvent {
                recorded: 3,
                effective: 5,
                join: true,
            }],
        }];
        let s = timeline("membership", &rows, 8);
        assert!(s.contains("join of joiner recorded at height 3"));
        assert!(s.contains("join of joiner effective at height 5"));
        assert!(s.contains("validator from height 5 to 8"));
    }
}
