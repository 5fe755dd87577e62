//! Turns the collected series into the report's charts.

use super::charts::{
    self, color, Cell, HLine, Heatmap, LineChart, Series, TimelineEvent, TimelineRow,
};
use super::data::{index, OrgInfo, ReportData, RoundMetricsPoint};
use fedledger_ledger::verify::MembershipEvent;

/// Heatmap columns at most; longer ledgers are bucketed so the chart stays readable.
const MAX_COLUMNS: usize = 240;

/// One chart: a file-name slug, its title, and the SVG document.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File-name stem for `--png` (`accuracy`, `epsilon`, ...).
    pub slug: &'static str,
    /// Title.
    pub title: String,
    /// Standalone SVG.
    pub svg: String,
}

/// Every chart of the report, in page order.
pub fn all(data: &ReportData, orgs: &[OrgInfo], membership: &[MembershipEvent]) -> Vec<Chart> {
    vec![
        quality(data),
        loss(data),
        epsilon(data, orgs),
        contributions(data, orgs),
        fairness(data),
        timeline(data, orgs, membership),
    ]
}

const NO_ROUNDS: &str = "no verified rounds";

fn x_domain(data: &ReportData) -> (u64, u64) {
    let first = data.rounds.first().map(|r| r.height).unwrap_or(1);
    (first, data.last_height().max(first))
}

fn metric_series(
    data: &ReportData,
    label: &str,
    col: &'static str,
    dashed: bool,
    f: fn(&RoundMetricsPoint) -> f64,
) -> Series {
    Series {
        label: label.into(),
        color: col,
        dashed,
        points: data
            .rounds
            .iter()
            .map(|r| (r.height, r.metrics.as_ref().map(f)))
            .collect(),
    }
}

fn has_metrics(data: &ReportData) -> bool {
    data.rounds.iter().any(|r| r.metrics.is_some())
}

/// A line chart of round-summary metrics, or an empty-state chart when no round has a summary.
fn metric_chart(
    data: &ReportData,
    slug: &'static str,
    title: &str,
    y_label: &str,
    y_domain: Option<(f64, f64)>,
    series: Vec<Series>,
) -> Chart {
    let svg = if !has_metrics(data) {
        let why = if data.rounds.is_empty() {
            NO_ROUNDS
        } else {
            "no round summaries recorded"
        };
        charts::empty(title, why)
    } else {
        charts::line_chart(&LineChart {
            title: title.into(),
            y_label: y_label.into(),
            y_domain,
            x_domain: x_domain(data),
            series,
            hlines: vec![],
        })
    };
    Chart {
        slug,
        title: title.into(),
        svg,
    }
}

fn quality(data: &ReportData) -> Chart {
    let series = vec![
        metric_series(data, "accuracy", color(0), false, |m| m.accuracy),
        metric_series(data, "AUC", color(1), false, |m| m.auc),
    ];
    metric_chart(
        data,
        "accuracy",
        "Global accuracy and AUC per round",
        "accuracy / AUC",
        Some((0.0, 1.0)),
        series,
    )
}

fn loss(data: &ReportData) -> Chart {
    let series = vec![metric_series(data, "loss", color(3), false, |m| m.loss)];
    metric_chart(
        data,
        "loss",
        "Global log loss per round",
        "mean log loss",
        None,
        series,
    )
}

fn fairness(data: &ReportData) -> Chart {
    let series = vec![
        metric_series(data, "demographic parity gap", color(4), false, |m| {
            m.parity_gap
        }),
        metric_series(data, "equal opportunity gap", color(6), false, |m| {
            m.opportunity_gap
        }),
    ];
    metric_chart(
        data,
        "fairness",
        "Fairness gaps per round",
        "gap between groups",
        None,
        series,
    )
}

/// Cumulative epsilon per member, carried forward between its spends, from the round it first
/// spent (or validated); a dashed line in the same color marks its cap.
fn epsilon(data: &ReportData, orgs: &[OrgInfo]) -> Chart {
    let title = "Privacy budget: cumulative epsilon per organization against its cap";
    if data.rounds.is_empty() || orgs.is_empty() {
        return Chart {
            slug: "epsilon",
            title: title.into(),
            svg: charts::empty(title, NO_ROUNDS),
        };
    }
    let idx = index(orgs);
    let mut current: Vec<Option<f64>> = vec![None; orgs.len()];
    let mut points: Vec<Vec<(u64, Option<f64>)>> = vec![Vec::new(); orgs.len()];
    for r in &data.rounds {
        for (org, eps) in &r.epsilon {
            if let Some(i) = idx.get(org) {
                current[*i] = Some(*eps);
            }
        }
        for (i, o) in orgs.iter().enumerate() {
            // Before its first spend a member is at 0; before it joined it has no point.
            let v = current[i].or_else(|| o.member_at(r.height).then_some(0.0));
            points[i].push((r.height, v));
        }
    }
    let series = orgs
        .iter()
        .zip(points)
        .enumerate()
        .map(|(i, (o, points))| Series {
            label: o.label(),
            color: color(i),
            dashed: false,
            points,
        })
        .collect();
    // One cap line per distinct cap: in the member's color when it is its own, in grey with a
    // count when several members share it (equal caps would otherwise hide each other).
    let mut caps: Vec<(f64, Vec<usize>)> = Vec::new();
    for (i, o) in orgs.iter().enumerate() {
        if !o.epsilon_max.is_finite() {
            continue;
        }
        match caps.iter_mut().find(|(c, _)| *c == o.epsilon_max) {
            Some((_, v)) => v.push(i),
            None => caps.push((o.epsilon_max, vec![i])),
        }
    }
    let hlines = caps
        .into_iter()
        .map(|(cap, members)| match members.as_slice() {
            [i] => HLine {
                label: format!("cap of {} = {cap:.2}", orgs[*i].name),
                color: color(*i),
                y: cap,
            },
            many => HLine {
                label: format!("cap = {cap:.2} ({} members)", many.len()),
                color: "#888888",
                y: cap,
            },
        })
        .collect();
    let svg = charts::line_chart(&LineChart {
        title: title.into(),
        y_label: "epsilon (at the policy's delta)".into(),
        y_domain: None,
        x_domain: x_domain(data),
        series,
        hlines,
    });
    Chart {
        slug: "epsilon",
        title: title.into(),
        svg,
    }
}

fn contributions(data: &ReportData, orgs: &[OrgInfo]) -> Chart {
    let title = "Contributions and exclusions per organization and round";
    if data.rounds.is_empty() || orgs.is_empty() {
        return Chart {
            slug: "contributions",
            title: title.into(),
            svg: charts::empty(title, NO_ROUNDS),
        };
    }
    let idx = index(orgs);
    let per = data.rounds.len().div_ceil(MAX_COLUMNS).max(1);
    let mut columns = Vec::new();
    let mut cells: Vec<Vec<Cell>> = vec![Vec::new(); orgs.len()];
    for chunk in data.rounds.chunks(per) {
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
            continue;
        };
        columns.push((first.height, last.height));
        let mut col: Vec<Cell> = orgs
            .iter()
            .map(|o| {
                if chunk.iter().any(|r| o.member_at(r.height)) {
                    Cell::Absent
                } else {
                    Cell::NotMember
                }
            })
            .collect();
        for r in chunk {
            for o in &r.included {
                if let Some(i) = idx.get(o) {
                    col[*i] = col[*i].max(Cell::Included);
                }
            }
            for o in &r.excluded {
                if let Some(i) = idx.get(o) {
                    col[*i] = Cell::Excluded;
                }
            }
        }
        for (i, c) in col.into_iter().enumerate() {
            cells[i].push(c);
        }
    }
    let svg = charts::heatmap(&Heatmap {
        title: title.into(),
        rows: orgs.iter().map(OrgInfo::label).collect(),
        columns,
        cells,
    });
    Chart {
        slug: "contributions",
        title: title.into(),
        svg,
    }
}

fn timeline(data: &ReportData, orgs: &[OrgInfo], membership: &[MembershipEvent]) -> Chart {
    let title = "Membership timeline";
    if orgs.is_empty() {
        return Chart {
            slug: "membership",
            title: title.into(),
            svg: charts::empty(title, "no members"),
        };
    }
    let last = data.last_height();
    let rows: Vec<TimelineRow> = orgs
        .iter()
        .enumerate()
        .map(|(i, o)| TimelineRow {
            label: o.label(),
            color: color(i),
            // A founder validates from height 1; a joiner from its effective height.
            span: (
                o.joined_at.max(1),
                o.left_at.unwrap_or(last + 1).min(last + 1),
            ),
            events: membership
                .iter()
                .filter(|e| e.org == o.id)
                .map(|e| TimelineEvent {
                    recorded: e.height,
                    effective: e.effective_height,
                    join: e.action == "join",
                })
                .collect(),
        })
        .collect();
    Chart {
        slug: "membership",
        title: title.into(),
        svg: charts::timeline(title, &rows, last),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::report::data::RoundRecord;
    use fedledger_ledger::{Digest, OrgId};

    fn org(i: u8, joined_at: u64) -> OrgInfo {
        OrgInfo {
            id: OrgId([i; 32]),
            name: format!("org {i}"),
            epsilon_max: 8.0,
            epsilon_spent: 0.0,
            joined_at,
            left_at: None,
            updates: 0,
            exclusions: 0,
            proposed: 0,
        }
    }

    fn rounds(n: u64, excluded_at: u64) -> ReportData {
        let a = OrgId([1; 32]);
        let b = OrgId([2; 32]);
        ReportData {
            rounds: (1..=n)
                .map(|h| RoundRecord {
                    height: h,
                    view: 0,
                    hash: Digest::ZERO,
                    proposer: a,
                    timestamp_ms: h,
                    signers: vec![a],
                    metrics: None,
                    included: if h == excluded_at { vec![] } else { vec![a] },
                    excluded: if h == excluded_at { vec![a] } else { vec![] },
                    epsilon: vec![(a, h as f64 / n as f64), (b, 0.5)],
                })
                .collect(),
        }
    }

    #[test]
    fn long_ledgers_are_bucketed_and_an_exclusion_stays_visible() {
        let data = rounds(1000, 500);
        let orgs = vec![org(1, 0), org(2, 700)];
        let c = contributions(&data, &orgs);
        let columns = c.svg.matches("org 1 (").count();
        assert!(columns <= MAX_COLUMNS + 1, "{columns} columns");
        assert!(
            c.svg.contains("rounds 496–500: excluded</title>"),
            "bucket of 5"
        );
        // org 2 joined at 700: earlier buckets say not a member, later ones absent.
        assert!(c
            .svg
            .contains("org 2 (02020202), rounds 1–5: not a member</title>"));
        assert!(c
            .svg
            .contains("org 2 (02020202), rounds 996–1000: absent (no update)</title>"));
    }

    #[test]
    fn charts_without_summaries_or_rounds_say_so() {
        let data = rounds(3, 0);
        let orgs = vec![org(1, 0)];
        let all = all(&data, &orgs, &[]);
        assert_eq!(all.len(), 6);
        assert!(all[0].svg.contains("no round summaries recorded"));
        let empty = all_for_empty();
        assert!(empty.iter().filter(|c| c.svg.contains(NO_ROUNDS)).count() >= 5);
        for c in empty {
            assert!(c.svg.starts_with("<svg"), "{}", c.slug);
        }
    }

    fn all_for_empty() -> Vec<Chart> {
        all(&ReportData::default(), &[org(1, 0)], &[])
    }

    #[test]
    fn epsilon_points_per_member_and_shared_caps_grouped() {
        let data = rounds(4, 0);
        let orgs = vec![org(1, 0), org(2, 3)];
        let c = epsilon(&data, &orgs);
        assert!(c.svg.contains("org 1 (01010101) — round 4: 1.0000"));
        // org 2 spent 0.5 every round per the records, so it has points from round 1.
        assert!(c.svg.contains("org 2 (02020202) — round 1: 0.5000"));
        assert!(c.svg.contains("cap = 8.00 (2 members)"));
    }
}
