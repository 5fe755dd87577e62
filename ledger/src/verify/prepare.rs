//! Stateless checks of a block that can run in parallel ahead of the sequential chain checks:
//! hashes, the entry root, and every signature's cryptographic validity.

use super::{Rule, Violation};
use crate::block::{Block, Entry, FinalizeVote};
use crate::digest::Digest;
use crate::identity::{self, domain, signing_bytes};
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
    let stateless = stateless_checks(&block, &hash, chain_id, check_certificate);
    PreparedBlock {
        block,
        hash,
        stateless,
    }
}

fn stateless_checks(
    block: &Block,
    hash: &Digest,
    chain_id: &Digest,
    check_certificate: bool,
) -> Result<(), Violation> {
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

    let mut updates = Vec::new();
    let mut requests = Vec::new();
    let mut approvals = Vec::new();
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
    identity::verify_batch(&updates, domain::UPDATE).map_err(|e| {
        v(
            Rule::Update,
            "valid member signatures on update commitments".into(),
            e.to_string(),
        )
    })?;
    identity::verify_batch(&requests, domain::MEMBERSHIP_REQUEST).map_err(|e| {
        v(
            Rule::Membership,
            "a request signed by its subject".into(),
            e.to_string(),
        )
    })?;
    identity::verify_batch(&approvals, domain::MEMBERSHIP_APPROVAL).map_err(|e| {
        v(
            Rule::Membership,
            "valid approval signatures".into(),
            e.to_string(),
        )
    })?;

    if check_certificate {
        let cert = &block.certificate;
        if cert.view != block.header.view {
            return Err(v(
                Rule::Certificate,
                format!("votes for view {}", block.header.view),
                format!("votes for view {}", cert.view),
            ));
        }
        let vote = FinalizeVote {
            height: h,
            view: cert.view,
            block_hash: *hash,
        };
        let msg = signing_bytes(domain::FINALIZE, chain_id, &vote);
        let items: Vec<_> = cert
            .votes
            .iter()
            .map(|vt| (vt.signer, msg.clone(), vt.signature))
            .collect();
        identity::verify_batch(&items, domain::FINALIZE).map_err(|e| {
            v(
                Rule::Certificate,
                "finalize votes signed over this block".into(),
                e.to_string(),
            )
        })?;
    }
    Ok(())
}
