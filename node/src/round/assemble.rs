//! Building a round's entries: the signed updates, each member's budget spend with its recomputed
//! cumulative epsilon, the rule's exclusions, and the summary.

use super::metrics::pool_metrics;
use fedledger_ledger::block::{BudgetSpend, Entry, Exclusion, RoundSummary, UpdateCommitment};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::Digest;

/// An update the aggregation rule excluded, by position in the contributions.
#[derive(Debug, Clone, PartialEq)]
pub struct Excluded {
    /// Index into the contributions.
    pub index: usize,
    /// Why, in words (recorded on the ledger).
    pub reason: String,
    /// The rule's score, if it has one.
    pub score: Option<f64>,
}

/// Why a round's entries could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// Two updates from one member.
    #[error("two updates from member {org} in round {round}")]
    DuplicateMember {
        /// The member (short hex).
        org: String,
        /// The round.
        round: u64,
    },
    /// An update's budget spend cannot be accounted or crosses the member's cap.
    #[error("update of {org}: {reason}")]
    Budget {
        /// The member (short hex).
        org: String,
        /// What is wrong.
        reason: String,
    },
    /// An exclusion points at no contribution.
    #[error("exclusion index {index} is out of range ({count} contributions)")]
    BadExclusion {
        /// The index given.
        index: usize,
        /// Contributions available.
        count: usize,
    },
}

/// The entries of round `state.height() + 1`: updates (sorted by member), budget spends,
/// exclusions and a summary, in canonical order. `rule_params` are recorded in the summary.
pub fn assemble_entries(
    state: &ChainState,
    rule: &str,
    f: u32,
    rule_params: Vec<(String, f64)>,
    mut contributions: Vec<UpdateCommitment>,
    excluded: &[Excluded],
) -> Result<Vec<Entry>, RoundError> {
    let round = state.height() + 1;
    for x in excluded {
        if x.index >= contributions.len() {
            return Err(RoundError::BadExclusion {
                index: x.index,
                count: contributions.len(),
            });
        }
    }
    let excluded_hashes: Vec<(Digest, &Excluded)> = excluded
        .iter()
        .map(|x| (contributions[x.index].announcement.update_hash, x))
        .collect();
    contributions.sort_by_key(|c| c.announcement.org);
    for w in contributions.windows(2) {
        if w[0].announcement.org == w[1].announcement.org {
            return Err(RoundError::DuplicateMember {
                org: w[0].announcement.org.short(),
                round,
            });
        }
    }
    let mut entries = Vec::with_capacity(contributions.len() * 2 + excluded.len() + 1);
    let metrics = pool_metrics(
        &contributions
            .iter()
            .map(|c| &c.announcement.metrics)
            .collect::<Vec<_>>(),
    );
    let evaluated_model = state.model_hash();
    for c in &contributions {
        let a = &c.announcement;
        let epsilon_total =
            state
                .epsilon_after(&a.org, &a.dp)
                .map_err(|reason| RoundError::Budget {
                    org: a.org.short(),
                    reason,
                })?;
        if let Some((eps, cap)) = state.budget(&a.org).map(|(_, cap)| (epsilon_total, cap)) {
            if eps > cap {
                return Err(RoundError::Budget {
                    org: a.org.short(),
                    reason: format!("cumulative epsilon {eps:.4} would exceed its cap {cap}"),
                });
            }
        }
        entries.push(Entry::Budget(BudgetSpend {
            round,
            org: a.org,
            update_hash: a.update_hash,
            dp: a.dp,
            epsilon_total,
        }));
        if let Some((_, x)) = excluded_hashes.iter().find(|(h, _)| *h == a.update_hash) {
            entries.push(Entry::Exclusion(Exclusion {
                round,
                org: a.org,
                update_hash: a.update_hash,
                rule: rule.to_string(),
                reason: x.reason.clone(),
                score: x.score,
            }));
        }
    }
    let n_excluded = excluded_hashes.len() as u32;
    let included = contributions.len() as u32 - n_excluded;
    entries.extend(contributions.into_iter().map(Entry::Update));
    entries.push(Entry::Summary(RoundSummary {
        round,
        rule: rule.to_string(),
        f,
        params: rule_params,
        included,
        excluded: n_excluded,
        evaluated_model,
        metrics,
    }));
    entries.sort_by_key(|e| e.sort_key());
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedledger_ledger::block::{
        BlockPlan, DpSpend, FinalizationCertificate, FinalizeVote, LocalMetrics, UpdateAnnouncement,
    };
    use fedledger_ledger::testutil::TestChain;
    use fedledger_ledger::Block;

    #[test]
    fn assembled_rounds_pass_the_ledger_verifier() {
        let mut c = TestChain::new(4, 1, "median");
        for round in 1..=3u64 {
            let chain = c.chain_id();
            let contributions: Vec<UpdateCommitment> = c
                .state
                .validators()
                .iter()
                .rev()
                .map(|org| {
                    UpdateAnnouncement {
                        round,
                        org: *org,
                        update_hash: Digest::of_parts(&[&round.to_le_bytes(), &org.0]),
                        base_model: c.state.model_hash(),
                        num_examples: 500,
                        dp: DpSpend {
                            sampling_rate: 0.05,
                            noise_multiplier: 1.0,
                            steps: 20,
                        },
                        metrics: LocalMetrics {
                            examples: 100,
                            loss: 0.4,
                            accuracy: 0.8,
                            auc: 0.9,
                            groups: vec![],
                        },
                    }
                    .sign(c.key(org), &chain)
                })
                .collect();
            let excluded = [Excluded {
                index: 1,
                reason: "far from the median".into(),
                score: Some(3.5),
            }];
            let entries =
                assemble_entries(&c.state, "median", 1, vec![], contributions, &excluded).unwrap();
            let (header, entries) = BlockPlan {
                chain_id: chain,
                height: round,
                view: 0,
                prev_hash: c.state.tip_hash(),
                model_hash: Digest::of(&round.to_le_bytes()),
                proposer: c.state.leader(0),
                timestamp_ms: c.genesis.created_at_ms + round,
            }
            .seal(entries);
            c.state.check_proposal(&header, &entries).unwrap();
            let vote = FinalizeVote {
                height: round,
                view: 0,
                block_hash: header.hash(),
            };
            let votes = c
                .state
                .validators()
                .iter()
                .map(|v| vote.sign(c.key(v), &chain))
                .collect();
            c.push(Block {
                header,
                entries,
                certificate: FinalizationCertificate::from_votes(0, votes),
            });
        }
        let r = c.state.report();
        assert_eq!((r.height, r.updates, r.exclusions), (3, 12, 3));
    }

    #[test]
    fn duplicate_members_and_bad_exclusions_are_refused() {
        let c = TestChain::new(4, 1, "median");
        let org = c.state.validators()[0];
        let ann = UpdateAnnouncement {
            round: 1,
            org,
            update_hash: Digest::of(b"u"),
            base_model: Digest::ZERO,
            num_examples: 1,
            dp: DpSpend {
                sampling_rate: 0.1,
                noise_multiplier: 1.0,
                steps: 1,
            },
            metrics: LocalMetrics::default(),
        };
        let u = ann.sign(c.key(&org), &c.chain_id());
        assert!(matches!(
            assemble_entries(
                &c.state,
                "median",
                1,
                vec![],
                vec![u.clone(), u.clone()],
                &[]
            ),
            Err(RoundError::DuplicateMember { .. })
        ));
        let bad = [Excluded {
            index: 5,
            reason: String::new(),
            score: None,
        }];
        assert!(matches!(
            assemble_entries(&c.state, "median", 1, vec![], vec![u], &bad),
            Err(RoundError::BadExclusion { .. })
        ));
    }
}
