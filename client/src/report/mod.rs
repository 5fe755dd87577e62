//! The audit report: per-round series collected during an audit, drawn as inline SVG charts in one
//! self-contained HTML page (and optionally as PNG files); and the learning benchmark's page and
//! AUC-drop heatmap, drawn with the same SVG primitives and styles.

pub mod build;
pub mod charts;
pub mod data;
pub mod drop_heatmap;
pub mod html;
pub mod matrix;
pub mod png;
pub mod svg;

use data::ReportData;
use fedledger_ledger::verify::AuditOutcome;

/// A rendered report: the page and its charts (each also a standalone SVG).
#[derive(Debug)]
pub struct Rendered {
    /// The HTML document.
    pub html: String,
    /// The charts, in page order.
    pub charts: Vec<build::Chart>,
}

/// Render the report of an audit whose verified blocks were recorded in `data`.
pub fn render(outcome: &AuditOutcome, data: &ReportData) -> Rendered {
    let orgs = data::orgs(outcome);
    let charts = build::all(data, &orgs, &outcome.report.membership);
    let html = html::page(outcome, data, &orgs, &charts);
    Rendered { html, charts }
}
