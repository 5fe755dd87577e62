//! Pre-aggregation: ARC, NNM and bucketing, each a data-chosen linear map applied before a rule.
//!
//! Every step turns the vectors it is given into weighted sums of them, so the vectors a rule
//! finally sees are `y_i = sum_j W[i][j] x_j` over the (canonical) updates `x_j`, and their Gram
//! matrix is `W G W^T`. The steps only ever need that Gram matrix (norms for ARC, distances for
//! NNM), never the vectors: the n x n bookkeeping here is all they cost beyond the one Gram
//! matrix the Krum family computes anyway, and whole-update rules can then output one weighted
//! sum of the original updates ([`Mixing::combine`]). Everything is f64 in fixed index order.

mod arc;
mod bucketing;
mod mixing;
mod nnm;

pub(crate) use mixing::{combine_rows, Mixing};

use fedledger_ledger::Digest;

/// A pre-aggregation step (CLI and genesis names in [`PreAggregation::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreAggregation {
    /// Adaptive robust clipping (Allouah et al., ICLR 2025): the k = floor(2 (f/n) (n - f))
    /// largest vectors are clipped to the norm of the largest of the others.
    Arc,
    /// Nearest-neighbour mixing (Allouah et al., AISTATS 2023): each vector becomes the mean of
    /// its n - f nearest vectors (Euclidean, itself included; ties to the smaller index).
    Nnm,
    /// Bucketing (Karimireddy, He and Jaggi, ICLR 2022): the vectors are shuffled by a
    /// permutation seeded from the previous block hash and averaged in buckets of
    /// [`fedledger_ledger::rule_name::BUCKET_SIZE`] (the last bucket may be smaller).
    Bucketing,
}

impl PreAggregation {
    /// Every step, in the order of [`fedledger_ledger::rule_name::PRE_AGGREGATIONS`].
    pub const ALL: [PreAggregation; 3] = [
        PreAggregation::Arc,
        PreAggregation::Nnm,
        PreAggregation::Bucketing,
    ];

    /// The CLI / genesis name.
    pub fn name(&self) -> &'static str {
        match self {
            PreAggregation::Arc => "arc",
            PreAggregation::Nnm => "nnm",
            PreAggregation::Bucketing => "bucketing",
        }
    }

    /// Parse a name checked by the ledger's grammar.
    pub(crate) fn parse(name: &str) -> Option<PreAggregation> {
        PreAggregation::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the step needs the Gram matrix (norms or distances).
    pub(crate) fn needs_gram(&self) -> bool {
        !matches!(self, PreAggregation::Bucketing)
    }

    /// Apply the step to `mixing`, tolerating `f` Byzantine updates; `seed` (the previous block
    /// hash) drives bucketing.
    pub(crate) fn apply(&self, mixing: &mut Mixing, f: usize, seed: &Digest) {
        match self {
            PreAggregation::Arc => arc::apply(mixing, f),
            PreAggregation::Nnm => nnm::apply(mixing, f),
            PreAggregation::Bucketing => bucketing::apply(mixing, seed),
        }
    }
}
