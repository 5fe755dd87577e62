//! Certificate checks against a given validator set (shared by the chain state and proofs).

use super::validators::ValidatorSet;
use super::{Rule, Violation};
use crate::block::{BlockHeader, FinalizationCertificate, FinalizeVote};
use crate::digest::Digest;
use crate::identity::{self, domain, signing_bytes, OrgId};

/// Check membership, distinctness, count and signatures of `cert` over `header`.
pub fn verify_certificate(
    validators: &ValidatorSet,
    chain_id: &Digest,
    header: &BlockHeader,
    cert: &FinalizationCertificate,
    check_signatures: bool,
) -> Result<(), Violation> {
    let h = header.height;
    let v = |expected: String, found: String| Violation {
        height: h,
        rule: Rule::Certificate,
        expected,
        found,
    };
    if cert.view != header.view {
        return Err(v(
            format!("votes for view {}", header.view),
            format!("votes for view {}", cert.view),
        ));
    }
    let mut prev: Option<OrgId> = None;
    for vote in &cert.votes {
        if prev.is_some_and(|p| p >= vote.signer) {
            return Err(v(
                "distinct signers sorted by id".into(),
                format!("duplicate or unsorted signer {}", vote.signer.short()),
            ));
        }
        prev = Some(vote.signer);
        if !validators.contains(&vote.signer) {
            return Err(v(
                "signers from the validator set in force".into(),
                format!("outsider {}", vote.signer.short()),
            ));
        }
    }
    let q = validators.quorum();
    if cert.votes.len() < q {
        return Err(v(
            format!("at least {q} finalize votes"),
            format!("{}", cert.votes.len()),
        ));
    }
    if check_signatures {
        let msg = signing_bytes(
            domain::FINALIZE,
            chain_id,
            &FinalizeVote {
                height: h,
                view: cert.view,
                block_hash: header.hash(),
            },
        );
        let items: Vec<_> = cert
            .votes
            .iter()
            .map(|x| (x.signer, msg.clone(), x.signature))
            .collect();
        identity::verify_batch(&items, domain::FINALIZE).map_err(|e| {
            v(
                "finalize votes signed over this block".into(),
                e.to_string(),
            )
        })?;
    }
    Ok(())
}
