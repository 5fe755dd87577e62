//! A value heatmap for the learning benchmark: rules x (attack, attackers) per panel, coloured by
//! the mean AUC drop against the clean run, each cell labelled with the mean and worst drop.

use super::charts::truncate;
use super::svg::{Anchor, Stroke, Svg, TextStyle};

const LEFT: f64 = 190.0;
const CELL_W: f64 = 104.0;
const CELL_H: f64 = 38.0;
const HEADER_H: f64 = 36.0;
const PANEL_TITLE_H: f64 = 28.0;
const PANEL_GAP: f64 = 18.0;
const TOP: f64 = 106.0;
const MUTED: &str = "#666666";
const MISSING: &str = "#e4e4e4";

/// Colour classes of the drop, upper bounds inclusive (the last is open), aligned with the
/// table's "within 0.02" and "within 0.05" columns.
const BINS: [(f64, &str, &str); 7] = [
    (-0.005, "#c6dbef", "better than clean"),
    (0.005, "#fff7ec", "within ±0.005"),
    (0.02, "#fee8c8", "≤ 0.02"),
    (0.05, "#fdbb84", "≤ 0.05"),
    (0.1, "#fc8d59", "≤ 0.10"),
    (0.2, "#e34a33", "≤ 0.20"),
    (f64::INFINITY, "#b30000", "> 0.20"),
];

fn bin(drop: f64) -> usize {
    if !drop.is_finite() {
        return BINS.len() - 1;
    }
    // The first class is "below -0.005"; the others are "up to their bound".
    if drop < BINS[0].0 {
        return 0;
    }
    BINS.iter()
        .skip(1)
        .position(|(hi, _, _)| drop <= *hi)
        .map_or(BINS.len() - 1, |i| i + 1)
}

/// The fill for a drop.
pub fn fill(drop: f64) -> &'static str {
    BINS[bin(drop)].1
}

fn text_color(drop: f64) -> &'static str {
    if bin(drop) >= 5 {
        "#ffffff"
    } else {
        "#222222"
    }
}

/// One cell: a matrix point aggregated over seeds.
#[derive(Debug, Clone)]
pub struct DropCell {
    /// Mean drop over seeds (the colour).
    pub mean: f64,
    /// Largest drop over seeds.
    pub worst: f64,
    /// Hover text with the details.
    pub tooltip: String,
}

/// One panel: a fixed organization count and privacy setting.
#[derive(Debug, Clone)]
pub struct DropPanel {
    /// Panel heading (organizations, epsilon, clean AUC).
    pub title: String,
    /// Row labels (rule, with its pre-aggregator).
    pub rows: Vec<String>,
    /// Column labels: the attack, and a second line with f and the fractions.
    pub columns: Vec<(String, String)>,
    /// `cells[row][column]`; `None` for a point that was not run (infeasible).
    pub cells: Vec<Vec<Option<DropCell>>>,
}

fn panel_height(p: &DropPanel) -> f64 {
    PANEL_TITLE_H + HEADER_H + CELL_H * p.rows.len() as f64 + PANEL_GAP
}

/// Draw the panels one under the other in one standalone SVG, under a title and two lines of
/// explanation.
pub fn drop_heatmap(title: &str, subtitle: [&str; 2], panels: &[DropPanel]) -> String {
    let cols = panels.iter().map(|p| p.columns.len()).max().unwrap_or(0);
    let width = (LEFT + CELL_W * cols as f64 + 20.0).max(760.0);
    let height = TOP + panels.iter().map(panel_height).sum::<f64>() + 10.0;
    let mut svg = Svg::new(width, height, title);
    svg.text(
        20.0,
        24.0,
        title,
        TextStyle::new(15.0, Anchor::Start).bold(),
    );
    for (i, line) in subtitle.iter().enumerate() {
        svg.text(
            20.0,
            42.0 + 14.0 * i as f64,
            line,
            TextStyle::new(11.0, Anchor::Start).color(MUTED),
        );
    }
    legend(&mut svg, 20.0, 72.0);
    let mut y = TOP;
    for p in panels {
        panel(&mut svg, p, y);
        y += panel_height(p);
    }
    svg.finish()
}

fn legend(svg: &mut Svg, x: f64, y: f64) {
    svg.text(
        x,
        y + 12.0,
        "mean drop:",
        TextStyle::new(11.0, Anchor::Start),
    );
    let mut lx = x + 72.0;
    for (_, color, label) in BINS {
        svg.rect(lx, y + 1.0, 14.0, 14.0, color, None);
        svg.frame(lx, y + 1.0, 14.0, 14.0, Stroke::solid("#bbbbbb", 0.5));
        svg.text(
            lx + 18.0,
            y + 12.0,
            label,
            TextStyle::new(11.0, Anchor::Start),
        );
        lx += 26.0 + 6.5 * label.chars().count() as f64;
    }
}

fn panel(svg: &mut Svg, p: &DropPanel, top: f64) {
    svg.text(
        20.0,
        top + 18.0,
        &p.title,
        TextStyle::new(13.0, Anchor::Start).bold(),
    );
    let header = top + PANEL_TITLE_H;
    for (c, (attack, detail)) in p.columns.iter().enumerate() {
        let cx = LEFT + (c as f64 + 0.5) * CELL_W;
        svg.text(
            cx,
            header + 14.0,
            &truncate(attack, 16),
            TextStyle::new(11.0, Anchor::Middle).bold(),
        );
        svg.text(
            cx,
            header + 28.0,
            &truncate(detail, 18),
            TextStyle::new(10.0, Anchor::Middle).color(MUTED),
        );
    }
    let body = header + HEADER_H;
    for (r, label) in p.rows.iter().enumerate() {
        let y = body + r as f64 * CELL_H;
        svg.text(
            LEFT - 10.0,
            y + CELL_H * 0.6,
            &truncate(label, 26),
            TextStyle::new(12.0, Anchor::End),
        );
        for c in 0..p.columns.len() {
            let x = LEFT + c as f64 * CELL_W;
            let cell = p
                .cells
                .get(r)
                .and_then(|row| row.get(c))
                .and_then(Option::as_ref);
            match cell {
                Some(cell) => {
                    svg.rect(
                        x + 1.0,
                        y + 1.0,
                        CELL_W - 2.0,
                        CELL_H - 2.0,
                        fill(cell.mean),
                        Some(&cell.tooltip),
                    );
                    let ink = text_color(cell.mean);
                    svg.text(
                        x + CELL_W / 2.0,
                        y + 17.0,
                        &format!("{:.3}", cell.mean),
                        TextStyle::new(12.0, Anchor::Middle).bold().color(ink),
                    );
                    svg.text(
                        x + CELL_W / 2.0,
                        y + 31.0,
                        &format!("worst {:.3}", cell.worst),
                        TextStyle::new(10.0, Anchor::Middle).color(ink),
                    );
                }
                None => {
                    svg.rect(
                        x + 1.0,
                        y + 1.0,
                        CELL_W - 2.0,
                        CELL_H - 2.0,
                        MISSING,
                        Some("not run: the rule cannot handle this (n, f)"),
                    );
                    svg.text(
                        x + CELL_W / 2.0,
                        y + 23.0,
                        "n/a",
                        TextStyle::new(11.0, Anchor::Middle).color(MUTED),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn drops_fall_into_the_classes_of_the_table() {
        assert_eq!(fill(-0.01), BINS[0].1);
        assert_eq!(fill(0.0), BINS[1].1);
        assert_eq!(fill(0.02), BINS[2].1);
        assert_eq!(fill(0.0201), BINS[3].1);
        assert_eq!(fill(0.05), BINS[3].1);
        assert_eq!(fill(0.9), BINS[6].1);
        assert_eq!(fill(f64::NAN), BINS[6].1);
    }

    #[test]
    fn every_cell_is_drawn_with_its_mean_and_worst_and_labels_are_escaped() {
        let p = DropPanel {
            title: "8 organizations".into(),
            rows: vec!["mean".into(), "<krum>".into()],
            columns: vec![
                ("alie".into(), "f=2".into()),
                ("ipm:0.5".into(), "f=2".into()),
            ],
            cells: vec![
                vec![
                    Some(DropCell {
                        mean: 0.4321,
                        worst: 0.8766,
                        tooltip: "t".into(),
                    }),
                    None,
                ],
                vec![
                    Some(DropCell {
                        mean: 0.001,
                        worst: 0.002,
                        tooltip: "u".into(),
                    }),
                    Some(DropCell {
                        mean: -0.01,
                        worst: 0.0,
                        tooltip: "v".into(),
                    }),
                ],
            ],
        };
        let s = drop_heatmap("AUC drop", ["sub", "title"], &[p.clone(), p]);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches(">0.432<").count(), 2, "{s}");
        assert_eq!(s.matches(">worst 0.877<").count(), 2);
        assert_eq!(s.matches(">n/a<").count(), 2);
        assert!(s.contains("&lt;krum&gt;") && !s.contains("<krum>"));
    }
}
