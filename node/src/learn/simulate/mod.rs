//! The engine behind `fedledger simulate`: runs a whole federation in one process (local DP-SGD
//! per organization, attacks, robust aggregation, accounting), reports metrics per round beside a
//! centralized baseline, and hands out per round what a ledger would record.

mod config;
mod engine;
mod glue;
mod report;

pub use config::{DataSource, DpPlanMode, Noise, SimConfig};
pub use engine::Simulation;
pub use glue::check_rule;
pub use report::{
    OrgSummary, OrgUpdate, Personalization, RoundRecord, RoundReport, SimReport, UpdateOutcome,
};
