//! Evaluation: accuracy, precision, recall, F1, ROC AUC (ties get average ranks), log loss, and
//! per-group positive-prediction and true-positive rates with demographic-parity and
//! equal-opportunity differences.
//!
//! For binary tasks the positive class is class 1 and an example is predicted positive when
//! P(class 1) >= 0.5, or the genesis's `model.decision_threshold` ([`evaluate_at`]). For
//! multi-class tasks precision, recall, F1 and AUC are macro averages (one-vs-rest) and the group
//! rates treat class 1 as "positive".

use crate::learn::data::Dataset;
use crate::learn::error::LearnError;
use crate::learn::model::{predict_proba, Architecture};
use fedledger_ledger::block::{GroupRates, LocalMetrics};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// Probabilities are clamped to [EPS, 1 - EPS] in the log loss so one confident mistake is
/// large but finite.
const EPS: f64 = 1e-7;

/// Rates of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    /// Group value.
    pub group: String,
    /// Examples in the group.
    pub count: u64,
    /// True positives in the group (by label).
    pub positives: u64,
    /// Share predicted positive.
    pub positive_rate: f64,
    /// Share of the group's positives predicted positive (0 when the group has none).
    pub true_positive_rate: f64,
}

/// A model's evaluation on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Examples evaluated.
    pub examples: u64,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// TP / (TP + FP) (0 when nothing is predicted positive).
    pub precision: f64,
    /// TP / (TP + FN) (0 when there are no positives).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Area under the ROC curve (0.5 when only one class is present).
    pub auc: f64,
    /// Mean cross-entropy.
    pub log_loss: f64,
    /// Per group, sorted by group name (empty without a group column).
    pub groups: Vec<GroupMetrics>,
    /// Largest minus smallest positive-prediction rate over groups.
    pub demographic_parity_difference: f64,
    /// Largest minus smallest true-positive rate over groups that have positives.
    pub equal_opportunity_difference: f64,
}

/// ROC AUC of `scores` for binary `labels` (true = positive), by the Mann-Whitney statistic with
/// average ranks for tied scores. Returns 0.5 when either class is absent.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let pos = idx.iter().filter(|&&i| labels[i]).count() as f64;
    let neg = idx.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let avg = (i + j + 2) as f64 / 2.0;
        rank_sum += avg * idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Evaluate class probabilities `probs` (one row per example) against `data`'s labels and groups.
pub fn evaluate(probs: ArrayView2<'_, f32>, data: &Dataset) -> Result<Metrics, LearnError> {
    evaluate_at(probs, data, 0.5)
}

/// As [`evaluate`], a binary task's threshold metrics taken at P(class 1) >= `threshold` (the
/// genesis's decision rule) instead of 0.5. AUC and log loss do not depend on it.
pub fn evaluate_at(
    probs: ArrayView2<'_, f32>,
    data: &Dataset,
    threshold: f64,
) -> Result<Metrics, LearnError> {
    let n = data.len();
    let k = data.classes;
    if probs.dim() != (n, k) {
        return Err(LearnError::Shape {
            reason: format!(
                "{:?} probabilities for {n} examples of {k} classes",
                probs.dim()
            ),
        });
    }
    let predicted: Vec<u32> = if k == 2 {
        probs
            .column(1)
            .iter()
            .map(|&p| u32::from(f64::from(p) >= threshold))
            .collect()
    } else {
        probs
            .rows()
            .into_iter()
            .map(|r| {
                // First maximum wins, so ties resolve the same way everywhere.
                let mut best = 0;
                for (c, &p) in r.iter().enumerate() {
                    if p > r[best] {
                        best = c;
                    }
                }
                best as u32
            })
            .collect()
    };
    let correct = predicted
        .iter()
        .zip(&data.y)
        .filter(|(p, y)| p == y)
        .count() as u64;
    let mut log_loss = 0.0f64;
    for (i, &y) in data.y.iter().enumerate() {
        let p = f64::from(probs[[i, y as usize]]).clamp(EPS, 1.0 - EPS);
        log_loss -= p.ln();
    }
    // One-vs-rest per class; binary uses class 1 only.
    let classes: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
    let (mut precision, mut recall, mut f1, mut auc) = (0.0, 0.0, 0.0, 0.0);
    for &c in &classes {
        let c32 = c as u32;
        let tp = predicted
            .iter()
            .zip(&data.y)
            .filter(|(&p, &y)| p == c32 && y == c32)
            .count() as u64;
        let pp = predicted.iter().filter(|&&p| p == c32).count() as u64;
        let ap = data.y.iter().filter(|&&y| y == c32).count() as u64;
        let (pr, re) = (ratio(tp, pp), ratio(tp, ap));
        precision += pr;
        recall += re;
        f1 += if pr + re > 0.0 {
            2.0 * pr * re / (pr + re)
        } else {
            0.0
        };
        let labels: Vec<bool> = data.y.iter().map(|&y| y == c32).collect();
        let scores: Vec<f32> = probs.column(c).to_vec();
        auc += roc_auc(&scores, &labels);
    }
    let m = classes.len() as f64;
    let mut groups = Vec::new();
    if !data.groups.is_empty() {
        for (g, name) in data.group_names.iter().enumerate() {
            let members: Vec<usize> = (0..n).filter(|&i| data.groups[i] as usize == g).collect();
            if members.is_empty() {
                continue;
            }
            let pp = members.iter().filter(|&&i| predicted[i] == 1).count() as u64;
            let pos = members.iter().filter(|&&i| data.y[i] == 1).count() as u64;
            let tp = members
                .iter()
                .filter(|&&i| data.y[i] == 1 && predicted[i] == 1)
                .count() as u64;
            groups.push(GroupMetrics {
                group: name.clone(),
                count: members.len() as u64,
                positives: pos,
                positive_rate: ratio(pp, members.len() as u64),
                true_positive_rate: ratio(tp, pos),
            });
        }
    }
    let (dp_gap, eo_gap) = fairness_gaps(&groups);
    Ok(Metrics {
        examples: n as u64,
        accuracy: ratio(correct, n as u64),
        precision: precision / m,
        recall: recall / m,
        f1: f1 / m,
        auc: auc / m,
        log_loss: if n == 0 { 0.0 } else { log_loss / n as f64 },
        groups,
        demographic_parity_difference: dp_gap,
        equal_opportunity_difference: eo_gap,
    })
}

/// (demographic-parity difference, equal-opportunity difference) over `groups`.
pub fn fairness_gaps(groups: &[GroupMetrics]) -> (f64, f64) {
    let spread = |v: Vec<f64>| {
        if v.len() < 2 {
            0.0
        } else {
            v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
        }
    };
    (
        spread(groups.iter().map(|g| g.positive_rate).collect()),
        spread(
            groups
                .iter()
                .filter(|g| g.positives > 0)
                .map(|g| g.true_positive_rate)
                .collect(),
        ),
    )
}

/// Evaluate the model `params` on `data`.
pub fn evaluate_model(
    arch: &Architecture,
    params: &[f32],
    data: &Dataset,
) -> Result<Metrics, LearnError> {
    evaluate_model_at(arch, params, data, 0.5)
}

/// Evaluate the model `params` on `data` with the decision threshold `threshold`.
pub fn evaluate_model_at(
    arch: &Architecture,
    params: &[f32],
    data: &Dataset,
    threshold: f64,
) -> Result<Metrics, LearnError> {
    let probs: Array2<f32> = predict_proba(arch, params, data.x.view())?;
    evaluate_at(probs.view(), data, threshold)
}

impl Metrics {
    /// The ledger's form: what a member announces about its base model.
    pub fn to_local(&self) -> LocalMetrics {
        LocalMetrics {
            examples: self.examples,
            loss: self.log_loss,
            accuracy: self.accuracy,
            auc: self.auc,
            groups: self.groups.iter().map(GroupMetrics::to_rates).collect(),
        }
    }
}

impl GroupMetrics {
    /// The ledger's form.
    pub fn to_rates(&self) -> GroupRates {
        GroupRates {
            group: self.group.clone(),
            count: self.count,
            positives: self.positives,
            positive_rate: self.positive_rate,
            true_positive_rate: self.true_positive_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Brute-force AUC: share of (positive, negative) pairs ordered correctly, ties count half.
    fn naive_auc(s: &[f32], l: &[bool]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..s.len() {
            for j in 0..s.len() {
                if l[i] && !l[j] {
                    den += 1.0;
                    num += if s[i] > s[j] {
                        1.0
                    } else if s[i] == s[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        num / den
    }

    #[test]
    fn auc_handles_ties_like_the_pairwise_definition() {
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            0.75
        );
        assert_eq!(roc_auc(&[0.5; 4], &[false, true, false, true]), 0.5);
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), 0.5);
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let n = rng.gen_range(2..40);
            let s: Vec<f32> = (0..n)
                .map(|_| f32::from(rng.gen_range(0u8..5)) / 4.0)
                .collect();
            let l: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.4)).collect();
            if l.iter().all(|&b| b) || l.iter().all(|&b| !b) {
                continue;
            }
            assert!((roc_auc(&s, &l) - naive_auc(&s, &l)).abs() < 1e-12);
        }
    }

    #[test]
    fn binary_metrics_and_group_gaps() {
        let probs = array![
            [0.9, 0.1],
            [0.2, 0.8],
            [0.6, 0.4],
            [0.3, 0.7],
            [0.5, 0.5],
            [0.8, 0.2]
        ];
        let data = Dataset {
            x: Array2::zeros((6, 1)),
            y: vec![0, 1, 1, 0, 1, 0],
            classes: 2,
            groups: vec![0, 0, 0, 1, 1, 1],
            group_names: vec!["a".into(), "b".into()],
        };
        let m = evaluate(probs.view(), &data).unwrap();
        // Predicted positive: rows 1, 3, 4. TP = rows 1, 4; FP = row 3; FN = row 2.
        assert_eq!(m.accuracy, 4.0 / 6.0);
        assert_eq!(m.precision, 2.0 / 3.0);
        assert_eq!(m.recall, 2.0 / 3.0);
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
        let ll = -[0.9f32, 0.8, 0.4, 0.3, 0.5, 0.8]
            .iter()
            .map(|&p| f64::from(p).ln())
            .sum::<f64>()
            / 6.0;
        assert!((m.log_loss - ll).abs() < 1e-6);
        assert_eq!(m.groups[0].positive_rate, 1.0 / 3.0);
        assert_eq!(m.groups[1].positive_rate, 2.0 / 3.0);
        assert_eq!(m.groups[0].true_positive_rate, 0.5);
        assert_eq!(m.groups[1].true_positive_rate, 1.0);
        assert!((m.demographic_parity_difference - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.equal_opportunity_difference, 0.5);
        let local = m.to_local();
        assert_eq!(local.examples, 6);
        assert_eq!(local.groups[1].group, "b");
        assert!(evaluate(
            probs.select(ndarray::Axis(0), &[0, 1, 2, 3, 4]).view(),
            &data
        )
        .is_err());
    }

    #[test]
    fn threshold_metrics_are_taken_at_the_decision_threshold() {
        let probs = array![[0.9, 0.1], [0.7, 0.3], [0.6, 0.4], [0.95, 0.05]];
        let data = Dataset {
            x: Array2::zeros((4, 1)),
            y: vec![0, 1, 1, 0],
            classes: 2,
            groups: vec![0, 0, 1, 1],
            group_names: vec!["a".into(), "b".into()],
        };
        // At 0.5 nobody is predicted positive: accuracy is the base rate, both gaps 0.
        let half = evaluate(probs.view(), &data).unwrap();
        assert_eq!((half.accuracy, half.recall), (0.5, 0.0));
        assert_eq!(half.demographic_parity_difference, 0.0);
        assert!(half.groups.iter().all(|g| g.positive_rate == 0.0));
        // At 0.25 the two positives are found; AUC and log loss do not move.
        let low = evaluate_at(probs.view(), &data, 0.25).unwrap();
        assert_eq!((low.accuracy, low.recall, low.precision), (1.0, 1.0, 1.0));
        assert_eq!(low.groups[0].positive_rate, 0.5);
        assert_eq!((low.auc, low.log_loss), (half.auc, half.log_loss));
    }

    #[test]
    fn multiclass_uses_argmax_and_macro_averages() {
        let probs = array![
            [0.7, 0.2, 0.1],
            [0.1, 0.6, 0.3],
            [0.2, 0.3, 0.5],
            [0.4, 0.4, 0.2]
        ];
        let data = Dataset {
            x: Array2::zeros((4, 1)),
            y: vec![0, 1, 2, 1],
            classes: 3,
            groups: vec![],
            group_names: vec![],
        };
        let m = evaluate(probs.view(), &data).unwrap();
        // Row 3 ties 0.4/0.4 and resolves to class 0 (first maximum): wrong.
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.auc, 1.0);
        assert!(m.groups.is_empty());
    }
}
