//! Gossip admission: whether a consensus message may be relayed, judged from the chain state
//! alone (cheap checks first, signatures last), before it reaches the state machine.

use super::message::{Certificate, Message, VoteKind};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Digest, OrgId};
use std::collections::BTreeSet;

/// Why a message is neither relayed nor handed to the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Provably bad whatever this node's height: the forwarder should be penalised.
    Reject(&'static str),
    /// Useless, or bad only as far as this node knows (its chain may lag): drop it quietly.
    Ignore(&'static str),
}

impl Refusal {
    /// The kebab-case reason it is counted under.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Reject(r) | Refusal::Ignore(r) => r,
        }
    }
}

/// Judge consensus gossip `msg` for a node deciding `height` (its chain's height + 1).
///
/// Old heights are ignored. Votes and proposals must be signed by a validator of the message's
/// height, certificates must hold a quorum of distinct such validators' valid votes. Where the
/// applied blocks do not fix that height's validator set (far-future heights, or the next one
/// with a membership delay of 1), an unknown signer is ignored rather than rejected: it may be a
/// joiner this node has not heard of, and an honest forwarder must not be penalised for it.
pub fn judge(chain: &ChainState, height: u64, msg: &Message) -> Result<(), Refusal> {
    let h = msg.height();
    if matches!(
        msg,
        Message::SyncRequest { .. } | Message::SyncResponse { .. }
    ) {
        return Err(Refusal::Reject("malformed"));
    }
    if h < height {
        return Err(Refusal::Ignore("stale-height"));
    }
    let known = chain.validators_known_at(h);
    let outsider = if known {
        Refusal::Reject("non-member")
    } else {
        Refusal::Ignore("unknown-signer")
    };
    match msg {
        Message::Certificate(c) => judge_certificate(chain, c, known),
        Message::Propose(p) => {
            if p.header.chain_id != chain.chain_id() {
                return Err(Refusal::Reject("wrong-chain"));
            }
            if !chain.is_validator_at(&p.header.proposer, h) {
                return Err(outsider);
            }
            // The leader of a view at the height being decided is fixed by the chain.
            if h == height && p.header.proposer != chain.leader(p.header.view) {
                return Err(Refusal::Reject("not-leader"));
            }
            signed(chain, msg)
        }
        Message::Vote(v) => {
            if !chain.is_validator_at(&v.signer, h) {
                return Err(outsider);
            }
            signed(chain, msg)
        }
        Message::SyncRequest { .. } | Message::SyncResponse { .. } => {
            Err(Refusal::Reject("malformed"))
        }
    }
}

fn signed(chain: &ChainState, msg: &Message) -> Result<(), Refusal> {
    if msg.signature_ok(&chain.chain_id()) {
        Ok(())
    } else {
        Err(Refusal::Reject("bad-signature"))
    }
}

/// A notarization or nullification: well-formed, at most one vote per validator, at least a
/// quorum, then every signature. `known`: whether the chain fixes the height's validator set,
/// which makes a short or outsider-signed certificate provably bad.
fn judge_certificate(chain: &ChainState, c: &Certificate, known: bool) -> Result<(), Refusal> {
    let bad = Refusal::Reject("bad-certificate");
    let unsure = if known {
        bad
    } else {
        Refusal::Ignore("unknown-signer")
    };
    let well_formed = match c.kind {
        VoteKind::Finalize => false,
        VoteKind::Nullify => c.block_hash == Digest::ZERO,
        VoteKind::Notarize => true,
    };
    if !well_formed {
        return Err(bad);
    }
    if c.votes.len() > chain.validator_count_at(c.height) {
        return Err(unsure);
    }
    let mut signers: BTreeSet<OrgId> = BTreeSet::new();
    for v in &c.votes {
        if !signers.insert(v.signer) {
            return Err(bad);
        }
        if !chain.is_validator_at(&v.signer, c.height) {
            return Err(if known {
                Refusal::Reject("non-member")
            } else {
                unsure
            });
        }
    }
    if signers.len() < chain.quorum_at(c.height) {
        return Err(unsure);
    }
    let chain_id = chain.chain_id();
    if c.unpack().all(|v| v.verify(&chain_id).is_ok()) {
        Ok(())
    } else {
        Err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::sim::{sim_genesis, sim_key};
    use crate::consensus::{Proposal, SignedVote};
    use fedledger_ledger::block::BlockPlan;
    use fedledger_ledger::{Genesis, OrgKey};

    struct Fixture {
        genesis: Genesis,
        chain: ChainState,
        keys: Vec<OrgKey>,
    }

    fn fixture(membership_delay: u64) -> Fixture {
        let mut genesis = sim_genesis(4, 1, 300, 1000);
        genesis.rounds.membership_delay = membership_delay;
        Fixture {
            chain: ChainState::new(&genesis),
            genesis,
            keys: (0..4).map(sim_key).collect(),
        }
    }

    impl Fixture {
        fn id(&self) -> Digest {
            self.chain.chain_id()
        }
        fn vote(&self, kind: VoteKind, height: u64, key: &OrgKey) -> SignedVote {
            let hash = if kind == VoteKind::Nullify {
                Digest::ZERO
            } else {
                Digest::of(b"block")
            };
            SignedVote::sign(kind, height, 0, hash, key, &self.id())
        }
        fn certificate(&self, kind: VoteKind, signers: &[&OrgKey]) -> Certificate {
            let votes: Vec<SignedVote> = signers.iter().map(|k| self.vote(kind, 1, k)).collect();
            Certificate {
                kind,
                height: 1,
                view: 0,
                block_hash: votes[0].block_hash,
                votes: votes.iter().map(SignedVote::to_ledger_vote).collect(),
            }
        }
        fn key_of(&self, id: &OrgId) -> &OrgKey {
            self.keys.iter().find(|k| k.id() == *id).unwrap()
        }
        fn proposal(&self, view: u64, key: &OrgKey) -> Message {
            let (header, entries) = BlockPlan {
                chain_id: self.id(),
                height: 1,
                view,
                prev_hash: self.id(),
                model_hash: Digest::ZERO,
                proposer: key.id(),
                timestamp_ms: self.genesis.created_at_ms,
            }
            .seal(vec![]);
            Message::Propose(Box::new(Proposal::sign(header, entries, key)))
        }
    }

    fn judge1(f: &Fixture, m: Message) -> Result<(), Refusal> {
        judge(&f.chain, 1, &m)
    }

    #[test]
    fn votes_need_a_validator_and_a_valid_signature() {
        let f = fixture(2);
        let member = &f.keys[0];
        let outsider = sim_key(99);
        let vote = |h, k| Message::Vote(f.vote(VoteKind::Notarize, h, k));
        assert_eq!(judge1(&f, vote(1, member)), Ok(()));
        assert_eq!(
            judge1(&f, vote(1, &outsider)),
            Err(Refusal::Reject("non-member"))
        );
        // The next height's set is fixed by the chain (delay 2): an outsider is provably bad.
        assert_eq!(
            judge1(&f, vote(2, &outsider)),
            Err(Refusal::Reject("non-member"))
        );
        let mut forged = f.vote(VoteKind::Nullify, 1, &outsider);
        forged.signer = member.id();
        assert_eq!(
            judge1(&f, Message::Vote(forged)),
            Err(Refusal::Reject("bad-signature"))
        );
        assert_eq!(
            judge(&f.chain, 2, &vote(1, member)),
            Err(Refusal::Ignore("stale-height"))
        );
    }

    #[test]
    fn far_future_and_undetermined_heights_relay_only_known_validators() {
        let f = fixture(2);
        let outsider = sim_key(99);
        let vote = |h, k| Message::Vote(f.vote(VoteKind::Nullify, h, k));
        assert_eq!(
            judge1(&f, vote(9, &outsider)),
            Err(Refusal::Ignore("unknown-signer"))
        );
        assert_eq!(judge1(&f, vote(9, &f.keys[1])), Ok(()));
        let mut forged = f.vote(VoteKind::Nullify, 9, &outsider);
        forged.signer = f.keys[1].id();
        assert_eq!(
            judge1(&f, Message::Vote(forged)),
            Err(Refusal::Reject("bad-signature"))
        );
        // With a delay of 1 the block being decided may admit a joiner for the next height.
        let f = fixture(1);
        assert_eq!(
            judge1(&f, Message::Vote(f.vote(VoteKind::Nullify, 2, &outsider))),
            Err(Refusal::Ignore("unknown-signer"))
        );
    }

    #[test]
    fn proposals_need_the_leader_of_the_view() {
        let f = fixture(2);
        let leader = f.key_of(&f.chain.leader(3));
        assert_eq!(judge1(&f, f.proposal(3, leader)), Ok(()));
        let other = f.keys.iter().find(|k| k.id() != leader.id()).unwrap();
        assert_eq!(
            judge1(&f, f.proposal(3, other)),
            Err(Refusal::Reject("not-leader"))
        );
        assert_eq!(
            judge1(&f, f.proposal(3, &sim_key(99))),
            Err(Refusal::Reject("non-member"))
        );
    }

    #[test]
    fn certificates_are_checked_whole() {
        let f = fixture(2);
        let k: Vec<&OrgKey> = f.keys.iter().collect();
        let cert = |kind, signers: &[&OrgKey]| Message::Certificate(f.certificate(kind, signers));
        let bad = Err(Refusal::Reject("bad-certificate"));
        assert_eq!(judge1(&f, cert(VoteKind::Notarize, &k[..3])), Ok(()));
        assert_eq!(judge1(&f, cert(VoteKind::Nullify, &k)), Ok(()));
        assert_eq!(judge1(&f, cert(VoteKind::Notarize, &k[..2])), bad, "short");
        assert_eq!(judge1(&f, cert(VoteKind::Finalize, &k[..3])), bad, "kind");
        assert_eq!(
            judge1(&f, cert(VoteKind::Notarize, &[k[0], k[1], k[1]])),
            bad,
            "repeated signer"
        );
        let outsider = sim_key(99);
        assert_eq!(
            judge1(&f, cert(VoteKind::Notarize, &[k[0], k[1], &outsider])),
            Err(Refusal::Reject("non-member"))
        );
        let mut forged = f.certificate(VoteKind::Notarize, &k[..3]);
        forged.votes[2].signature = forged.votes[1].signature;
        assert_eq!(judge1(&f, Message::Certificate(forged)), bad, "forged");
        let mut hashed = f.certificate(VoteKind::Nullify, &k[..3]);
        hashed.block_hash = Digest::of(b"x");
        assert_eq!(judge1(&f, Message::Certificate(hashed)), bad);
        let too_many: Vec<&OrgKey> = k.iter().chain(k.iter()).copied().collect();
        assert_eq!(judge1(&f, cert(VoteKind::Notarize, &too_many)), bad);
    }

    #[test]
    fn sync_messages_do_not_travel_by_gossip() {
        let f = fixture(2);
        assert_eq!(
            judge1(&f, Message::SyncRequest { from_height: 1 }),
            Err(Refusal::Reject("malformed"))
        );
    }
}
