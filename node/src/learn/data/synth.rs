//! Deterministic synthetic customer data: organizations differ in feature distribution and base
//! rate, customers carry a group attribute, and churn follows a fixed logistic ground truth.
//!
//! The output is a raw [`Table`] (strings, like a CSV) so it goes through the same schema
//! encoding as real data; [`schema`] is the matching built-in schema.

use crate::learn::data::{Schema, Table};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Normal};

/// The column naming each row's home organization (usable with `column:org` partitioning).
pub const ORG_COLUMN: &str = "org";

/// Columns of the generated table, in order.
pub const COLUMNS: &[&str] = &[
    ORG_COLUMN,
    "region",
    "age",
    "income",
    "balance",
    "tenure_months",
    "products",
    "channel",
    "churn",
];

const CHANNELS: [&str; 3] = ["branch", "online", "mobile"];

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of organizations whose customers are generated.
    pub orgs: usize,
    /// Customers per organization.
    pub rows_per_org: usize,
    /// Seed: same seed, same table, on every machine.
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            orgs: 8,
            rows_per_org: 1000,
            seed: 7,
        }
    }
}

/// How one organization's customers differ from the population.
#[derive(Debug, Clone, Copy)]
struct OrgProfile {
    /// In [-1, 1]: shifts age, income and balance together (older, richer customers).
    shift: f64,
    /// Added to the churn logit: the organization's base rate.
    offset: f64,
    /// Share of rural customers.
    rural: f64,
    /// Channel mix weights (branch, online, mobile).
    channels: [f64; 3],
}

fn profile(seed: u64, org: usize) -> OrgProfile {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(1_000_000 + org as u64);
    let mut channels = [0.0; 3];
    for c in &mut channels {
        *c = rng.gen_range(0.2..1.0);
    }
    OrgProfile {
        shift: rng.gen_range(-1.0..1.0),
        offset: rng.gen_range(-0.8..0.8),
        rural: rng.gen_range(0.15..0.6),
        channels,
    }
}

/// The ground-truth churn logit of one customer (before the organization's offset).
fn true_logit(
    age: f64,
    income: f64,
    balance: f64,
    tenure: f64,
    products: f64,
    channel: usize,
    rural: bool,
) -> f64 {
    let z_age = (age - 42.0) / 12.0;
    let z_inc = (libm::log1p(income) - 10.7) / 0.6;
    let z_bal = (balance - 2200.0) / 1600.0;
    let channel_effect = [-0.3, 0.1, 0.5][channel];
    -1.3 + 0.9 * z_bal - 0.7 * z_inc - 0.4 * z_age - 1.2 * (tenure / 120.0)
        + 0.35 * (products - 2.5)
        + channel_effect
        + if rural { 0.3 } else { 0.0 }
}

/// Generate the table: `orgs * rows_per_org` rows, grouped by organization.
pub fn generate(cfg: &SynthConfig) -> Table {
    let mut rows = Vec::with_capacity(cfg.orgs * cfg.rows_per_org);
    let std_normal = Normal::new(0.0, 1.0).unwrap_or_else(|e| panic!("N(0,1) is valid: {e}"));
    for org in 0..cfg.orgs {
        let p = profile(cfg.seed, org);
        let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
        rng.set_stream(org as u64);
        let total: f64 = p.channels.iter().sum();
        for _ in 0..cfg.rows_per_org {
            let mut n = || std_normal.sample(&mut rng);
            let age = (42.0 + 6.0 * p.shift + 12.0 * n()).clamp(18.0, 90.0);
            let income = libm::exp(10.7 + 0.3 * p.shift + 0.55 * n());
            let balance = (2200.0 + 700.0 * p.shift + 1500.0 * n()).max(0.0);
            let tenure = rng.gen_range(0.0..120.0f64).floor();
            let products = f64::from(rng.gen_range(1..=4u32));
            let u = rng.gen_range(0.0..total);
            let channel = if u < p.channels[0] {
                0
            } else if u < p.channels[0] + p.channels[1] {
                1
            } else {
                2
            };
            let rural = rng.gen_bool(p.rural);
            let logit =
                true_logit(age, income, balance, tenure, products, channel, rural) + p.offset;
            let prob = 1.0 / (1.0 + libm::exp(-logit));
            let churn = rng.gen_bool(prob.clamp(0.0, 1.0));
            rows.push(vec![
                format!("org-{org:02}"),
                if rural { "rural" } else { "urban" }.to_string(),
                format!("{age:.0}"),
                format!("{income:.2}"),
                format!("{balance:.2}"),
                format!("{tenure:.0}"),
                format!("{products:.0}"),
                CHANNELS[channel].to_string(),
                if churn { "Yes" } else { "No" }.to_string(),
            ]);
        }
    }
    let lines = (0..rows.len() as u64).map(|i| i + 2).collect();
    Table {
        source: format!("synthetic(seed={})", cfg.seed),
        header: COLUMNS.iter().map(|c| c.to_string()).collect(),
        rows,
        lines,
    }
}

/// The table as CSV text (header first), for the testnet and for inspection.
pub fn to_csv(table: &Table) -> String {
    let mut out = table.header.join(",");
    out.push('\n');
    for row in &table.rows {
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The built-in schema matching [`generate`]: scaling constants are the population's, fixed in
/// advance, so every organization encodes identically.
pub const SCHEMA_TOML: &str = r#"# Built-in schema of fedledger's synthetic customer data.
[label]
column = "churn"
positive = "Yes"

[group]
column = "region"

[[numeric]]
column = "age"
scaling = "standard"
mean = 42.0
std = 12.0

[[numeric]]
column = "income"
log1p = true
scaling = "standard"
mean = 10.7
std = 0.6

[[numeric]]
column = "balance"
scaling = "standard"
mean = 2200.0
std = 1600.0

[[numeric]]
column = "tenure_months"
scaling = "minmax"
min = 0.0
max = 120.0

[[numeric]]
column = "products"
scaling = "standard"
mean = 2.5
std = 1.1

[[categorical]]
column = "channel"
values = ["branch", "online", "mobile"]

[[categorical]]
column = "region"
values = ["urban", "rural"]
"#;

/// The built-in schema (see [`SCHEMA_TOML`]).
pub fn schema() -> Schema {
    Schema::from_toml(SCHEMA_TOML, "built-in synthetic schema")
        .unwrap_or_else(|e| panic!("the built-in schema is valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::data::csv::read_table;

    #[test]
    fn deterministic_heterogeneous_and_encodable() {
        let cfg = SynthConfig {
            orgs: 4,
            rows_per_org: 500,
            seed: 3,
        };
        let t = generate(&cfg);
        assert_eq!(t, generate(&cfg));
        assert_ne!(t.rows, generate(&SynthConfig { seed: 4, ..cfg }).rows);
        let d = t.encode(&schema()).unwrap();
        assert_eq!(d.len(), 2000);
        assert_eq!(d.group_names, ["rural", "urban"]);
        // Base rates differ across organizations and are neither 0 nor 1.
        let rates: Vec<f64> = (0..4)
            .map(|k| {
                let ys = &d.y[k * 500..(k + 1) * 500];
                ys.iter().map(|&y| f64::from(y)).sum::<f64>() / 500.0
            })
            .collect();
        let (lo, hi) = rates
            .iter()
            .fold((1.0f64, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)));
        assert!(lo > 0.03 && hi < 0.8 && hi - lo > 0.05, "{rates:?}");
        // The CSV form round-trips through the CSV reader.
        let back = read_table(to_csv(&t).as_bytes(), "x").unwrap();
        assert_eq!(back.rows, t.rows);
    }
}
