//! Stateless checks of a block that can run in parallel ahead of the sequential chain checks:
//! hashes, the entry root, and every signature's cryptographic validity.

use super::{Rule, Violation};
use crate::block::{Block, Entry, FinalizeVote};
use crate::digest::Digest;
use crate::identity::{self, domain, signing_bytes, SignedItem};
use crate::merkle;

/// A block with its hash computed and its stateless checks done.
#[derive(Debug)]
pub struct PreparedBlock {
    /// The block.
    pub block: Block,
    /// `block.header.hash()`.
    pub hash: Digest,
    /// First failure among the stateless checks, reported after the header's chain checks.
    pub stateless: Result<(), Violation>,
}

/// Hash the block, recompute its entry root and verify every signature it carries.
/// `check_certificate` is false for proposals, which carry no certificate yet.
pub fn prepare(block: Block, chain_id: &Digest, check_certificate: bool) -> PreparedBlock {
    let hash = block.header.hash();
    let stateless = structural_checks(&block, check_certificate)
        .and_then(|_| signature_checks(&block, &hash, chain_id, check_certificate));
    PreparedBlock {
        block,
        hash,
        stateless,
    }
}

/// [`prepare`] for several blocks, checking all their signatures as one ed25519 batch (far cheaper
/// per signature than block by block). Only if that batch fails are the blocks checked one by
/// one, to name the first bad signature.
pub fn prepare_many(blocks: Vec<Block>, chain_id: &Digest) -> Vec<PreparedBlock> {
    let hashes: Vec<Digest> = blocks.iter().map(|b| b.header.hash()).collect();
    let structural: Vec<Result<(), Violation>> =
        blocks.iter().map(|b| structural_checks(b, true)).collect();
    let mut items = Vec::new();
    for ((b, h), s) in blocks.iter().zip(&hashes).zip(&structural) {
        if s.is_ok() {
            let (updates, requests, approvals, votes) = signature_items(b, h, chain_id, true);
            items.extend(updates);
            items.extend(requests);
            items.extend(approvals);
            items.extend(votes);
        }
    }
    if identity::batch_ok(&items) {
        return blocks
            .into_iter()
            .zip(hashes)
            .zip(structural)
            .map(|((block, hash), stateless)| PreparedBlock {
                block,
                hash,
                stateless,
            })
            .collect();
    }
    blocks
        .into_iter()
        .map(|b| prepare(b, chain_id, true))
        .collect()
}

fn structural_checks(block: &Block, check_certificate: bool) -> Result<(), Violation> {
    let h = block.header.height;
    let v = |rule, expected: String, found: String| Violation {
        height: h,
        rule,
        expected,
        found,
    };
    if block.header.entry_count as usize != block.entries.len() {
        return Err(v(
            Rule::EntryRoot,
            format!("entry_count {}", block.header.entry_count),
            format!("{} entries", block.entries.len()),
        ));
    }
    let root = merkle::root(&block.leaf_hashes());
    if root != block.header.entry_root {
        return Err(v(
            Rule::EntryRoot,
            format!("entry root {}", block.header.entry_root),
            format!("entries hashing to {root}"),
        ));
    }
    if check_certificate && block.certificate.view != block.header.view {
        return Err(v(
            Rule::Certificate,
            format!("votes for view {}", block.header.view),
            format!("votes for view {}", block.certificate.view),
        ));
    }
    Ok(())
}

type Items = Vec<SignedItem>;

/// Every signature a block carries, by kind: updates, membership requests, approvals, votes.
fn signature_items(
    block: &Block,
    hash: &Digest,
    chain_id: &Digest,
    with_certificate: bool,
) -> (Items, Items, Items, Items) {
    let (mut updates, mut requests, mut approvals, mut votes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in &block.entries {
        match e {
            Entry::Update(u) => updates.push((
                u.announcement.org,
                signing_bytes(domain::UPDATE, chain_id, &u.announcement),
                u.signature,
            )),
            Entry::Membership(m) => {
                requests.push((
                    m.request.subject,
                    signing_bytes(domain::MEMBERSHIP_REQUEST, chain_id, &m.request),
                    m.request_signature,
                ));
                let rh = m.request.hash();
                for a in &m.approvals {
                    approvals.push((
                        a.approver,
                        signing_bytes(domain::MEMBERSHIP_APPROVAL, chain_id, &rh),
                        a.signature,
                    ));
                }
            }
            _ => {}
        }
    }
    if with_certificate {
        let vote = FinalizeVote {
            height: block.header.height,
            view: block.certificate.view,
            block_hash: *hash,
        };
        let msg = signing_bytes(domain::FINALIZE, chain_id, &vote);
        votes.extend(
            block
                .certificate
                .votes
                .iter()
                .map(|v| (v.signer, msg.clone(), v.signature)),
        );
    }
    (updates, requests, approvals, votes)
}

fn signature_checks(
    block: &Block,
    hash: &Digest,
    chain_id: &Digest,
    with_certificate: bool,
) -> Result<(), Violation> {
    let h = block.header.height;
    let v = |rule, expected: &str, found: String| Violation {
        height: h,
        rule,
        expected: expected.into(),
        found,
    };
    let (updates, requests, approvals, votes) =
        signature_items(block, hash, chain_id, with_certificate);
    identity::verify_batch(&updates, domain::UPDATE).map_err(|e| {
        v(
            Rule::Update,
            "valid member signatures on update commitments",
            e.to_string(),
        )
    })?;
    identity::verify_batch(&requests, domain::MEMBERSHIP_REQUEST).map_err(|e| {
        v(
            Rule::Membership,
            "a request signed by its subject",
            e.to_string(),
        )
    })?;
    identity::verify_batch(&approvals, domain::MEMBERSHIP_APPROVAL)
        .map_err(|e| v(Rule::Membership, "valid approval signatures", e.to_string()))?;
    identity::verify_batch(&votes, domain::FINALIZE).map_err(|e| {
        v(
            Rule::Certificate,
            "finalize votes signed over this block",
            e.to_string(),
        )
    })?;
    Ok(())
}
