//! The learning benchmark's outputs for people: the AUC-drop heatmap (one panel per organization
//! count and privacy setting) and a self-contained HTML page with it, the definitions and the
//! table.

use super::drop_heatmap::{drop_heatmap, DropCell, DropPanel};
use super::html::{CSP, CSS};
use super::svg::esc;
use fedledger_node::learn::bench::{Plan, Summary, TableRow, DEFINITIONS};
use std::fmt::Write as _;

/// Title of the heatmap.
pub const TITLE: &str = "AUC drop against the clean run (plain mean, no attack, same seed)";

/// Definitions read as prose, not as identifiers.
const EXTRA_CSS: &str = "#definitions dd{font-family:inherit;word-break:normal}";

/// `none` or the epsilon, as shown to people.
pub fn epsilon_label(e: Option<f64>) -> String {
    e.map_or_else(|| "no DP".to_string(), |e| format!("epsilon {e}"))
}

/// A percentage with no decimals, or `-` when undefined.
pub fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.0}%", v * 100.0))
}

fn fractions(f: &[f64]) -> String {
    f.iter().map(f64::to_string).collect::<Vec<_>>().join(",")
}

/// The second line of a column label: f and the fractions that give it.
fn column_detail(r: &TableRow) -> String {
    if r.attackers == 0 {
        format!("f={} · no attacker", r.f)
    } else {
        format!("f={} · {}", r.attackers, fractions(&r.fractions))
    }
}

fn tooltip(r: &TableRow) -> String {
    format!(
        "{} / {} / {} of {} attack: mean AUC {:.4} (clean {:.4}), drop mean {:.4}, worst {:.4}; \
         {}/{} seeds within 0.02; attackers excluded {}, honest excluded {}; cost of robustness \
         {:.4}",
        r.rule,
        r.attack,
        r.attackers,
        r.orgs,
        r.auc_mean,
        r.clean_auc_mean,
        r.drop_mean,
        r.drop_worst,
        (r.within_near * r.seeds as f64).round(),
        r.seeds,
        percent(r.attacker_excluded_share),
        percent(r.honest_excluded_share),
        r.robustness_cost
    )
}

/// One panel per (organizations, epsilon) that has results: rows are the plan's rule rows,
/// columns the (attack, attacker count) pairs in grid order.
pub fn panels(plan: &Plan, summary: &Summary) -> Vec<DropPanel> {
    let mut out = Vec::new();
    for oi in 0..plan.orgs.len() {
        for ei in 0..plan.epsilons.len() {
            let rows: Vec<&TableRow> = summary
                .table
                .iter()
                .filter(|r| r.panel == (oi, ei))
                .collect();
            let Some(first) = rows.first() else {
                continue;
            };
            let mut keys: Vec<(usize, usize, usize)> = rows
                .iter()
                .map(|r| (r.attack_index, r.f, r.attackers))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let columns = keys
                .iter()
                .filter_map(|k| {
                    rows.iter()
                        .find(|r| (r.attack_index, r.f, r.attackers) == *k)
                        .map(|r| (r.attack.clone(), column_detail(r)))
                })
                .collect();
            let cells = (0..plan.rows.len())
                .map(|ri| {
                    keys.iter()
                        .map(|k| {
                            rows.iter()
                                .find(|r| {
                                    r.row_index == ri && (r.attack_index, r.f, r.attackers) == *k
                                })
                                .map(|r| DropCell {
                                    mean: r.drop_mean,
                                    worst: r.drop_worst,
                                    tooltip: tooltip(r),
                                })
                        })
                        .collect()
                })
                .collect();
            out.push(DropPanel {
                title: format!(
                    "{} organizations · {} · clean AUC {:.4} (mean over {} seeds)",
                    plan.orgs[oi],
                    epsilon_label(plan.epsilons[ei]),
                    first.clean_auc_mean,
                    first.seeds
                ),
                rows: plan.rows.iter().map(|r| r.name()).collect(),
                columns,
                cells,
            });
        }
    }
    out
}

/// The heatmap as a standalone SVG.
pub fn chart(plan: &Plan, summary: &Summary) -> String {
    drop_heatmap(
        TITLE,
        [
            "colour and upper number: mean drop over seeds; lower number: worst (largest) drop",
            "rows: rule (or pre-aggregator+rule); columns: attack, attackers f and the fractions \
             giving f",
        ],
        &panels(plan, summary),
    )
}

/// The whole page: settings, heatmap, definitions, table, skipped points.
pub fn page(plan: &Plan, summary: &Summary, settings: &[(String, String)]) -> String {
    let mut h = String::with_capacity(64 * 1024 + summary.table.len() * 600);
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{csp}"><meta name="viewport" content="width=device-width, initial-scale=1"><title>fedledger learning benchmark</title><style>{CSS}{EXTRA_CSS}</style></head><body><main><h1>fedledger learning benchmark</h1>"#,
        csp = esc(CSP)
    );
    h.push_str(r#"<dl class="summary">"#);
    for (k, v) in settings {
        let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    h.push_str("</dl>");
    let _ = write!(
        h,
        r#"<section class="chart" id="chart-drop" aria-label="{}">{}</section>"#,
        esc(TITLE),
        chart(plan, summary)
    );
    h.push_str(r#"<h2>Definitions</h2><dl class="summary" id="definitions">"#);
    for (k, v) in DEFINITIONS {
        let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    h.push_str("</dl>");
    table(&mut h, summary);
    if !summary.skipped.is_empty() {
        h.push_str(r#"<h2>Skipped (infeasible)</h2><ul id="skipped">"#);
        for s in &summary.skipped {
            let _ = write!(h, "<li>{}</li>", esc(s));
        }
        h.push_str("</ul>");
    }
    let _ = write!(
        h,
        "<footer>Generated by fedledger {} (<code>fedledger bench learning</code>); every run \
         is reproducible from its seed and settings.</footer></main></body></html>",
        esc(env!("CARGO_PKG_VERSION"))
    );
    h.push('\n');
    h
}

fn table(h: &mut String, s: &Summary) {
    h.push_str(r#"<h2>Table (aggregated over seeds)</h2><table id="table"><thead><tr><th>orgs</th><th>privacy</th><th>rule</th><th>attack</th><th>fractions</th><th>f</th><th>seeds</th><th>mean AUC</th><th>clean AUC</th><th>drop</th><th>worst drop</th><th>within 0.02</th><th>within 0.05</th><th>attackers excluded</th><th>honest excluded</th><th>cost of robustness</th></tr></thead><tbody>"#);
    for r in &s.table {
        let _ = write!(
            h,
            r#"<tr><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{:.4}</td><td class="num">{:.4}</td><td class="num">{:.4}</td><td class="num">{:.4}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{:.4}</td></tr>"#,
            r.orgs,
            esc(&epsilon_label(r.epsilon)),
            esc(&r.rule),
            esc(&r.attack),
            esc(&fractions(&r.fractions)),
            r.f,
            r.seeds,
            r.auc_mean,
            r.clean_auc_mean,
            r.drop_mean,
            r.drop_worst,
            percent(Some(r.within_near)),
            percent(Some(r.within_far)),
            percent(r.attacker_excluded_share),
            percent(r.honest_excluded_share),
            r.robustness_cost
        );
    }
    h.push_str("</tbody></table>");
}
