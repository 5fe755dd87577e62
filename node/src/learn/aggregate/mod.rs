//! Byzantine-robust aggregation of members' model deltas: eight rules, bit-identical everywhere.
//!
//! # Rules (CLI names) and conventions
//!
//! All rules are **unweighted**: a member's claimed example count buys it no influence. `f` is
//! the number of Byzantine updates to tolerate; each rule refuses an (n, f) it cannot handle,
//! using the ledger's own table ([`fedledger_ledger::genesis::check_rule`]) so genesis
//! validation and aggregation can never disagree.
//!
//! | rule | needs | definition |
//! |------|-------|------------|
//! | `mean` | n >= 1 | coordinate-wise mean |
//! | `median` | n >= 2f+1 | coordinate-wise median; even n: mean of the two middle values |
//! | `trimmed-mean` | n >= 2f+1 | per coordinate drop the f smallest and f largest, average the rest |
//! | `krum` | n >= 2f+3 | the update with the lowest score, see below |
//! | `multi-krum` | n >= 2f+3 | unweighted mean of the m lowest-scoring updates; m defaults to n-f |
//! | `bulyan` | n >= 4f+3 | select theta = n-2f updates by iterated Krum, then per coordinate average the beta = theta-2f selected values closest to their median |
//! | `geometric-median` | n >= 2f+1 | smoothed Weiszfeld (Pillutla et al., RFA): nu = 1e-6, at most 100 iterations, stop when the objective changes by <= 1e-10 relative |
//! | `centered-clipping` | n >= 2f+1 | Karimireddy et al. 2021: from the mean, 10 iterations of v += mean_i clip(x_i - v, tau); tau defaults to the median of the distances ‖x_i - v‖ at each iteration |
//!
//! **Krum's convention.** score(i) = the sum of squared L2 distances from update i to its
//! **n-f-2** nearest other updates (Blanchard et al. 2017 and Flower; ByzFL uses n-f-1). The
//! lowest score wins; equal scores are broken by the smaller update id (the update hash).
//! Bulyan applies the same Krum to the remaining set at each step (neighbour count
//! max(r-f-2, 0) for r remaining updates); among values equidistant from the median it prefers
//! the smaller value.
//!
//! # Determinism
//!
//! The output is a pure function of the multiset of (id, delta) pairs: updates are first put in
//! canonical order (by id, ties by input position), so with distinct ids (update hashes) the
//! output does not depend on the order the leader received them in. Long sums accumulate in
//! f64, except Krum's dot products: coordinate k goes to f32 lane k mod 16, each lane
//! accumulates with fused multiply-adds (one rounding each, as IEEE 754 defines them) over
//! chunks of 1024 coordinates, and each chunk's lanes are added to an f64 total in a fixed
//! tree. Lane widths, combine order and chunking are fixed by the source, there are no threads,
//! and everything else uses separate multiplies and adds (Rust never contracts them into an
//! FMA). Coordinate-wise rules run a fixed sorting network whose compare-exchange is a pure
//! permutation decided by an IEEE comparison. Negative zeros in the output are normalised to
//! +0. Golden-hash tests pin the bits of the aggregates and of the outcomes (scores included)
//! on every code path.
//!
//! # Speed
//!
//! Everything runs on one thread. Kernels are compiled three times (baseline, AVX2, AVX-512)
//! and picked at runtime ([`simd`]), on explicit 16-lane vectors ([`lanes`]), so LLVM only
//! chooses instructions, never the arithmetic. Coordinate-wise rules copy 64 coordinates of
//! every update into an L1-resident scratch and run a Batcher network (pruned to the needed
//! ranks for the median; aligned groups of 8 wires sorted in registers), so no per-coordinate
//! sort or transpose is needed. Krum-family rules compute the Gram matrix in register tiles
//! (4x4 with AVX-512, 2x2 otherwise) over cache blocks of 1024 coordinates. On x86-64 CPUs
//! without FMA the baseline path emulates it exactly (round-to-odd through f64), so Krum
//! there costs ~15x more. Measure with `fedledger bench aggregate [--path avx2|baseline]` or
//! `cargo bench -p fedledger-node --bench aggregate` (see `benches/aggregate.rs`).
//!
//! # Outcomes
//!
//! [`Aggregation::outcomes`] says, per input update, whether it was used, with what weight, and
//! why not: Krum-family rules exclude whole updates (with their scores), the geometric median
//! and centered clipping down-weight them, and coordinate-wise rules report the share of
//! coordinates in which an update was outside the kept range.

mod blocks;
mod bulyan;
pub mod centered_clipping;
mod columns;
mod error;
pub mod geometric_median;
mod gram;
mod input;
mod krum;
mod lanes;
mod mean;
mod median;
mod multi_krum;
mod network;
mod pipeline;
pub mod pre;
mod rule;
pub mod simd;
mod sums;
mod trimmed_mean;

pub mod bench;

pub use blocks::{ColumnBlocks, BLOCK_ALIGN};
pub use error::AggregateError;
pub use pipeline::Aggregator;
pub use pre::PreAggregation;
pub use rule::Rule;

use fedledger_ledger::Digest;
use serde::Serialize;

/// One member's update as the aggregator sees it.
#[derive(Debug, Clone, Copy)]
pub struct UpdateRef<'a> {
    /// The update's hash; breaks ties and fixes the canonical order.
    pub id: Digest,
    /// The model delta (local minus global parameters).
    pub delta: &'a [f32],
}

/// What a rule did with one update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Position of the update in the input slice.
    pub index: usize,
    /// Whether the update contributed to the aggregate at all.
    pub included: bool,
    /// Its share of the aggregate (weights of included updates sum to 1 for whole-update
    /// rules; for coordinate-wise rules, the share of coordinates where it was in the kept range
    /// divided by n).
    pub weight: f64,
    /// The rule's score for it, where the rule has one (Krum score, distance to the result).
    pub score: Option<f64>,
    /// Why it was excluded or down-weighted; `None` when used in full.
    pub reason: Option<String>,
}

/// The result of aggregating one round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregation {
    /// The aggregated delta.
    pub aggregate: Vec<f32>,
    /// One outcome per input update, in input order.
    pub outcomes: Vec<Outcome>,
}

/// Aggregate `updates` with `rule`, tolerating `f` Byzantine updates.
///
/// Fails if the rule cannot handle (n, f), if any update holds NaN or infinity, or if
/// dimensions differ; the error names the offending update's index.
pub fn aggregate(
    rule: &Rule,
    updates: &[UpdateRef<'_>],
    f: usize,
) -> Result<Aggregation, AggregateError> {
    let input = input::Input::new(rule, updates, f)?;
    let (aggregate, canonical) = run_rule(rule, &input)?;
    tracing::debug!(
        target: "fedledger::aggregate",
        rule = rule.name(),
        n = input.n(),
        f,
        dim = input.dim,
        excluded = canonical.iter().filter(|o| !o.included).count(),
        "aggregated"
    );
    Ok(Aggregation {
        aggregate,
        outcomes: input.to_input_order(canonical),
    })
}

/// Run `rule` on validated input in canonical order.
pub(crate) fn run_rule(
    rule: &Rule,
    input: &input::Input<'_>,
) -> Result<(Vec<f32>, Vec<Outcome>), AggregateError> {
    Ok(match *rule {
        Rule::Mean => mean::run(input),
        Rule::Median => median::run(input)?,
        Rule::TrimmedMean => trimmed_mean::run(input)?,
        Rule::Krum => krum::run(input)?,
        Rule::MultiKrum { m } => multi_krum::run(input, m.unwrap_or(input.n() - input.f))?,
        Rule::Bulyan => bulyan::run(input)?,
        Rule::GeometricMedian => geometric_median::run(input),
        Rule::CenteredClipping { radius } => centered_clipping::run(input, radius, None),
    })
}
