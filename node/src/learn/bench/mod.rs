//! The learning benchmark matrix behind `fedledger bench learning`: every combination of rules,
//! pre-aggregators, attacks, attacker fractions, privacy budgets, organization counts and seeds,
//! run through the in-process simulator and scored against a clean reference.
//!
//! # Definitions
//!
//! Every metric is measured on the final global model (after the last round) over the pooled
//! holdout: the same share (`holdout`, 20% by default) of every organization's examples, drawn
//! by the seed, so all runs of one seed and organization count see the same test set.
//!
//! - **accuracy**: share of holdout examples whose predicted class is the label. A binary model
//!   predicts the positive class (class 1) when P(class 1) >= 0.5, the simulator's fixed
//!   decision threshold.
//! - **precision**, **recall**, **F1**: TP / (TP + FP), TP / (TP + FN) and their harmonic mean,
//!   for class 1 at that threshold (macro averages one-vs-rest for more than two classes).
//! - **AUC**: ROC AUC of P(class 1), by the Mann-Whitney statistic with average ranks for ties
//!   (threshold-free).
//! - **attackers**: `round(fraction * orgs)` (halves away from zero), at least 1 when the fraction
//!   is above 0; the last organizations by index attack. The rule runs with f = attackers.
//! - **clean run**: plain `mean`, no attacker (f = 0), same seed, same organization count,
//!   partition and epsilon. It is the reference for every run: the question answered is "how
//!   much worse than undefended, unattacked federated training is this defence under this
//!   attack".
//! - **own no-attack run**: the same rule (and pre-aggregator) with the same f, no attacker.
//!   **cost of robustness** = clean AUC - own no-attack AUC: what the defence costs when nobody
//!   attacks. The grid's `none` attack is exactly this run.
//! - **drop** = clean AUC - run AUC, per seed (positive = worse than clean). A table row reports
//!   the mean drop over seeds, the worst (largest) drop and the share of seeds whose drop is at
//!   most 0.02 and at most 0.05.
//! - **excluded share** = attacker updates the rule excluded / attacker updates sent, summed
//!   over all rounds (and seeds, in a table row); the **honest excluded share** (false
//!   positives) = honest updates excluded / honest updates sent.
//!
//! Runs are independent and each is reproducible bit for bit from its configuration (the
//! simulator's randomness is derived from the seed alone), so results do not depend on the
//! number of worker threads or on the order runs finish in.

mod execute;
mod export;
mod plan;
mod spec;
mod summary;

pub use execute::{execute, RunResult};
pub use export::write_csv;
pub use plan::{Cell, Plan, PlannedRun};
pub use spec::{
    parse_attacks, parse_epsilons, parse_fractions, parse_orgs, parse_pre, parse_rules,
    parse_seeds, AttackAxis, Grid, RuleAxis,
};
pub use summary::{summarize, RunRow, Summary, TableRow};

/// The definitions above as (term, meaning) pairs, for reports and JSON output.
pub const DEFINITIONS: [(&str, &str); 9] = [
    (
        "test set",
        "the pooled holdout: the same share (20%) of every organization's examples, drawn by the \
         seed; metrics are of the final global model after the last round",
    ),
    (
        "accuracy",
        "share of holdout examples whose predicted class is the label; a binary model predicts \
         class 1 when P(class 1) >= 0.5",
    ),
    (
        "precision, recall, F1",
        "TP/(TP+FP), TP/(TP+FN) and their harmonic mean for class 1 at the 0.5 threshold",
    ),
    (
        "AUC",
        "ROC AUC of P(class 1) (Mann-Whitney, average ranks for ties), threshold-free",
    ),
    (
        "attackers",
        "round(fraction x orgs), halves away from zero, at least 1 for a positive fraction; the \
         last organizations attack and the rule runs with f = attackers",
    ),
    (
        "clean run",
        "plain mean, no attacker (f = 0), same seed, organizations, partition and epsilon: the \
         reference of every drop",
    ),
    (
        "own no-attack run",
        "the same rule and pre-aggregator with the same f and no attacker (the `none` attack); \
         cost of robustness = clean AUC - its AUC",
    ),
    (
        "drop",
        "clean AUC - run AUC for the same seed (positive = worse); rows give the mean and the \
         worst over seeds and the share of seeds within 0.02 and 0.05",
    ),
    (
        "excluded share",
        "attacker updates the rule excluded / attacker updates sent over all rounds and seeds; \
         honest excluded share = honest updates excluded / sent (false positives)",
    ),
];

/// A drop (clean AUC - run AUC) at most this large counts as "within 0.02 of clean".
pub const NEAR: f64 = 0.02;
/// A drop at most this large counts as "within 0.05 of clean".
pub const FAR: f64 = 0.05;
