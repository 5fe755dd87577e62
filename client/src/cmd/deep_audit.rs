//! `fedledger audit --deep`: recompute every round from the update bytes and compare with what
//! the ledger committed — the aggregation, the exclusions and the model hash.

use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Block, Digest, Entry, Genesis};
use fedledger_node::learn::aggregate::Aggregator;
use fedledger_node::learn::model::{decode_update, model_hash, Architecture};
use fedledger_node::round::{check_block, DeltaSource};
use serde::Serialize;

/// One finding of the deep audit.
#[derive(Debug, Clone, Serialize)]
pub struct DeepFinding {
    /// Block height.
    pub height: u64,
    /// What is wrong or missing.
    pub reason: String,
}

/// The result, as `--json` prints it under `deep`.
#[derive(Debug, Clone, Serialize)]
pub struct DeepReport {
    /// Rounds recomputed and found identical.
    pub checked: u64,
    /// Every round was recomputed and matched.
    pub complete: bool,
    /// Rounds whose recomputation differs from the ledger (the first one stops the replay).
    pub mismatches: Vec<DeepFinding>,
    /// Rounds that could not be recomputed (missing or corrupt update bytes), and the rounds
    /// after them, whose starting model is then unknown.
    pub unverifiable: Vec<DeepFinding>,
    /// Hash of the model after the last recomputed round.
    pub model_hash: String,
}

/// Replays the model along the verified chain.
#[derive(Debug)]
pub struct DeepAudit {
    rule: Aggregator,
    f: u32,
    chain: ChainState,
    model: Option<Vec<f32>>,
    params: usize,
    report: DeepReport,
    broken_at: Option<u64>,
}

impl DeepAudit {
    /// Start from the genesis model.
    pub fn new(genesis: &Genesis) -> anyhow::Result<Self> {
        let rule = Aggregator::from_spec(&genesis.aggregation)?;
        let arch = Architecture::from_spec(&genesis.model)?;
        let init = arch.init(genesis.model.init_seed);
        Ok(DeepAudit {
            rule,
            f: genesis.f,
            chain: ChainState::new(genesis),
            params: init.len(),
            report: DeepReport {
                checked: 0,
                complete: true,
                mismatches: Vec::new(),
                unverifiable: Vec::new(),
                model_hash: model_hash(&init).to_hex(),
            },
            model: Some(init),
            broken_at: None,
        })
    }

    /// Recompute `block` (already verified by the ledger audit) from `blobs`.
    pub fn block(&mut self, block: &Block, blobs: &dyn BlobSource) {
        let h = block.header.height;
        if let Some(model) = self.model.take() {
            match self.recompute(block, &model, blobs) {
                Ok(next) => {
                    self.report.checked += 1;
                    self.report.model_hash = block.header.model_hash.to_hex();
                    self.model = Some(next);
                }
                Err(Finding::Missing(reason)) => {
                    self.report
                        .unverifiable
                        .push(DeepFinding { height: h, reason });
                    self.broken_at = Some(h);
                }
                Err(Finding::Mismatch(reason)) => {
                    self.report
                        .mismatches
                        .push(DeepFinding { height: h, reason });
                    self.broken_at = Some(h);
                }
            }
        } else {
            self.report.unverifiable.push(DeepFinding {
                height: h,
                reason: format!(
                    "not recomputed: the model is unknown after height {}",
                    self.broken_at.unwrap_or(0)
                ),
            });
        }
        // The block passed the ledger audit; this cannot fail, but never panic on input.
        let _ = self.chain.apply(block.clone());
    }

    fn recompute(
        &self,
        block: &Block,
        model: &[f32],
        blobs: &dyn BlobSource,
    ) -> Result<Vec<f32>, Finding> {
        // Each update is checked whole (hash, size, finiteness) one at a time, then the round
        // reads them by ranges: memory holds one update, not the round's.
        for e in &block.entries {
            let Entry::Update(u) = e else { continue };
            let a = &u.announcement;
            let bytes = blobs
                .get(&a.update_hash)
                .map_err(|e| {
                    Finding::Missing(format!(
                        "the stored bytes of update {} are unusable: {e}",
                        a.update_hash.short()
                    ))
                })?
                .ok_or_else(|| {
                    Finding::Missing(format!(
                        "the bytes of update {} from {} are not in the blob store",
                        a.update_hash.short(),
                        a.org.short()
                    ))
                })?;
            if Digest::of(&bytes) != a.update_hash {
                return Err(Finding::Missing(format!(
                    "the stored bytes of update {} do not hash to it (corrupt blob store)",
                    a.update_hash.short()
                )));
            }
            let d = decode_update(&bytes).map_err(|e| {
                Finding::Mismatch(format!(
                    "update {} from {} is not a valid update: {e}",
                    a.update_hash.short(),
                    a.org.short()
                ))
            })?;
            if d.len() != self.params {
                return Err(Finding::Mismatch(format!(
                    "update {} from {} has {} parameters, the model {}",
                    a.update_hash.short(),
                    a.org.short(),
                    d.len(),
                    self.params
                )));
            }
        }
        let deltas = Ranges {
            blobs,
            params: self.params,
        };
        check_block(
            &self.chain,
            &self.rule,
            self.f,
            model,
            &block.entries,
            &block.header.model_hash,
            &deltas,
        )
        .map(|r| r.model)
        .map_err(Finding::Mismatch)
    }

    /// The model after the last block, when every round so far was recomputed and matched.
    pub fn model(&self) -> Option<&[f32]> {
        match self.broken_at {
            None => self.model.as_deref(),
            Some(_) => None,
        }
    }

    /// Why the replay stopped, if it did.
    pub fn problem(&self) -> Option<&DeepFinding> {
        self.report
            .mismatches
            .first()
            .or(self.report.unverifiable.first())
    }

    /// The findings.
    pub fn finish(mut self) -> DeepReport {
        self.report.complete =
            self.report.mismatches.is_empty() && self.report.unverifiable.is_empty();
        self.report
    }
}

enum Finding {
    Missing(String),
    Mismatch(String),
}

/// Where update bytes come from (a node's blob store).
pub trait BlobSource {
    /// The bytes stored under `hash`, if any; an error if they are there but unreadable or do
    /// not hash to `hash`.
    fn get(&self, hash: &Digest) -> Result<Option<Vec<u8>>, String>;

    /// Bytes `offset..offset + len` of the blob `hash` (fewer at its end), unchecked: for
    /// blobs already checked whole with [`BlobSource::get`].
    fn range(&self, hash: &Digest, offset: u64, len: usize) -> Result<Option<Vec<u8>>, String>;
}

impl BlobSource for SledStore {
    fn get(&self, hash: &Digest) -> Result<Option<Vec<u8>>, String> {
        self.blob(hash).map_err(|e| e.to_string())
    }

    fn range(&self, hash: &Digest, offset: u64, len: usize) -> Result<Option<Vec<u8>>, String> {
        self.blob_range(hash, offset, len)
            .map_err(|e| e.to_string())
    }
}

/// A round's deltas read by ranges from checked blobs of `params` values each.
struct Ranges<'a> {
    blobs: &'a dyn BlobSource,
    params: usize,
}

impl DeltaSource for Ranges<'_> {
    fn param_count(&self, _: &Digest) -> Result<usize, String> {
        Ok(self.params)
    }

    fn read(&self, hash: &Digest, start: usize, out: &mut [f32]) -> Result<(), String> {
        let bytes = self
            .blobs
            .range(hash, start as u64 * 4, out.len() * 4)?
            .ok_or_else(|| format!("the bytes of update {} went missing", hash.short()))?;
        if bytes.len() != out.len() * 4 {
            return Err(format!("update {} is shorter than checked", hash.short()));
        }
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }
}

/// Print the human summary.
pub fn print_deep(r: &DeepReport) {
    if r.complete {
        println!(
            "  deep audit    {} rounds recomputed from the update bytes: aggregation, exclusions and model hashes match (model {})",
            r.checked,
            &r.model_hash[..r.model_hash.len().min(8)]
        );
        return;
    }
    println!(
        "  deep audit    {} rounds recomputed and matching; {} mismatching; {} not checkable",
        r.checked,
        r.mismatches.len(),
        r.unverifiable.len()
    );
    for m in &r.mismatches {
        println!("    MISMATCH at height {}: {}", m.height, m.reason);
    }
    for u in r.unverifiable.iter().take(5) {
        println!("    cannot check height {}: {}", u.height, u.reason);
    }
    if r.unverifiable.len() > 5 {
        println!("    ... and {} more heights", r.unverifiable.len() - 5);
    }
}
