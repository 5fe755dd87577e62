//! State-machine tests with hand-made messages: ordering of persistence, restart safety, drop
//! reasons, the one-finalize-per-height rule, commits and sync.

use super::sim::{expected_model, sim_genesis, sim_key};
use super::*;
use fedledger_ledger::block::{BlockPlan, Entry, RoundMetrics, RoundSummary};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{Digest, Genesis, OrgId, OrgKey};

struct Net {
    genesis: Genesis,
    keys: Vec<OrgKey>,
}

impl Net {
    fn new() -> Self {
        Net {
            genesis: sim_genesis(4, 1, 300, 1000),
            keys: (0..4).map(sim_key).collect(),
        }
    }
    fn chain_id(&self) -> Digest {
        self.genesis.chain_id()
    }
    fn key(&self, id: &OrgId) -> &OrgKey {
        self.keys.iter().find(|k| k.id() == *id).unwrap()
    }
    fn leader(&self, view: u64) -> OrgId {
        ChainState::new(&self.genesis).leader(view)
    }
    /// A validator that does not lead views 0 and 1 at height 1.
    fn follower(&self) -> OrgKey {
        let k = self
            .keys
            .iter()
            .find(|k| k.id() != self.leader(0) && k.id() != self.leader(1))
            .unwrap();
        OrgKey::from_secret(k.secret_bytes(), "")
    }
    fn others(&self, me: &OrgId) -> Vec<&OrgKey> {
        self.keys.iter().filter(|k| k.id() != *me).collect()
    }
    fn node(&self, key: OrgKey) -> Consensus {
        let mut c = Consensus::new(Config::from_genesis(&self.genesis), key, &self.genesis);
        c.step(Event::Start);
        c
    }
    /// A valid proposal for height 1 in `view`; `salt` varies the timestamp.
    fn proposal(&self, view: u64, salt: u64) -> Proposal {
        let chain = ChainState::new(&self.genesis);
        let entries = vec![Entry::Summary(RoundSummary {
            round: 1,
            rule: "mean".into(),
            f: 1,
            params: vec![],
            included: 0,
            excluded: 0,
            evaluated_model: chain.model_hash(),
            metrics: RoundMetrics::default(),
        })];
        let leader = self.leader(view);
        let (header, entries) = BlockPlan {
            chain_id: self.chain_id(),
            height: 1,
            view,
            prev_hash: self.chain_id(),
            model_hash: expected_model(&chain, &entries),
            proposer: leader,
            timestamp_ms: self.genesis.created_at_ms + salt,
        }
        .seal(entries);
        Proposal::sign(header, entries, self.key(&leader))
    }
    fn vote(&self, kind: VoteKind, key: &OrgKey, view: u64, hash: Digest) -> Event {
        Event::Message {
            from: key.id(),
            message: Message::Vote(SignedVote::sign(kind, 1, view, hash, key, &self.chain_id())),
        }
    }
}

fn propose(c: &mut Consensus, p: &Proposal) -> Vec<Action> {
    let from = p.header.proposer;
    let mut out = c.step(Event::Message {
        from,
        message: Message::Propose(Box::new(p.clone())),
    });
    if out
        .iter()
        .any(|a| matches!(a, Action::RequestValidation { .. }))
    {
        out.extend(c.step(Event::Validated {
            height: 1,
            view: p.header.view,
            block_hash: p.header.hash(),
            result: Ok(()),
        }));
    }
    out
}

fn votes_sent(out: &[Action], kind: VoteKind) -> Vec<SignedVote> {
    out.iter()
        .filter_map(|a| match a {
            Action::Broadcast(Message::Vote(v)) if v.kind == kind => Some(v.clone()),
            _ => None,
        })
        .collect()
}

fn persisted(out: &[Action]) -> Option<SafetyState> {
    out.iter().rev().find_map(|a| match a {
        Action::Persist(s) => Some(s.clone()),
        _ => None,
    })
}

#[test]
fn notarize_is_persisted_before_it_is_sent_and_survives_a_restart() {
    let net = Net::new();
    let mut c = net.node(net.follower());
    let p1 = net.proposal(0, 1);
    let out = propose(&mut c, &p1);
    let persist = out.iter().position(
        |a| matches!(a, Action::Persist(s) if s.notarized.get(&0) == Some(&p1.header.hash())),
    );
    let send = out.iter().position(
        |a| matches!(a, Action::Broadcast(Message::Vote(v)) if v.kind == VoteKind::Notarize),
    );
    assert!(
        persist.is_some() && send.is_some() && persist < send,
        "{out:?}"
    );

    // Restart from what was persisted: a conflicting proposal of the same view gets no vote.
    let state = persisted(&out).unwrap();
    let mut r = Consensus::restore(
        Config::from_genesis(&net.genesis),
        net.follower(),
        &net.genesis,
        vec![],
        Some(state),
    )
    .unwrap();
    let again = r.step(Event::Start);
    let resent = votes_sent(&again, VoteKind::Notarize);
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].block_hash, p1.header.hash());
    let p2 = net.proposal(0, 2);
    let out = propose(&mut r, &p2);
    assert!(votes_sent(&out, VoteKind::Notarize).is_empty(), "{out:?}");
    assert_eq!(
        r.stats().equivocations,
        0,
        "first proposal seen after restart"
    );
    let out = propose(&mut r, &p1);
    assert!(
        votes_sent(&out, VoteKind::Notarize).is_empty(),
        "already notarized before the restart"
    );
}

#[test]
fn bad_messages_are_dropped_with_reasons() {
    let net = Net::new();
    let me = net.follower();
    let mut c = net.node(OrgKey::from_secret(me.secret_bytes(), ""));
    let other = net.others(&me.id())[0];
    let h = Digest::of(b"x");
    c.step(net.vote(VoteKind::Notarize, other, 0, h));
    assert!(c.stats().drops.is_empty());
    c.step(net.vote(VoteKind::Notarize, other, 0, h));
    // Forged: claims another member's name.
    let mut forged = SignedVote::sign(VoteKind::Nullify, 1, 0, Digest::ZERO, &me, &net.chain_id());
    forged.signer = other.id();
    c.step(Event::Message {
        from: me.id(),
        message: Message::Vote(forged),
    });
    // Signed for another consortium.
    let elsewhere = SignedVote::sign(VoteKind::Nullify, 1, 0, Digest::ZERO, other, &Digest::ZERO);
    c.step(Event::Message {
        from: other.id(),
        message: Message::Vote(elsewhere),
    });
    let outsider = sim_key(99);
    c.step(net.vote(VoteKind::Nullify, &outsider, 0, Digest::ZERO));
    let mut wrong_leader = net.proposal(0, 1);
    wrong_leader.header.proposer = me.id();
    c.step(Event::Message {
        from: me.id(),
        message: Message::Propose(Box::new(Proposal::sign(
            wrong_leader.header,
            wrong_leader.entries,
            &me,
        ))),
    });
    let mut wrong_chain = net.proposal(0, 1);
    wrong_chain.header.chain_id = Digest::ZERO;
    c.step(Event::Message {
        from: me.id(),
        message: Message::Propose(Box::new(wrong_chain)),
    });
    c.step(net.vote(VoteKind::Nullify, other, 5_000, Digest::ZERO));
    let d = &c.stats().drops;
    for (reason, n) in [
        ("duplicate", 1),
        ("bad-signature", 2),
        ("not-member", 1),
        ("not-leader", 1),
        ("wrong-chain", 1),
        ("far-view", 1),
    ] {
        assert_eq!(d.get(reason).copied(), Some(n), "{reason}: {d:?}");
    }
}

#[test]
fn a_finalize_quorum_commits_a_block_the_verifier_accepts() {
    let net = Net::new();
    let me = net.follower();
    let mut c = net.node(OrgKey::from_secret(me.secret_bytes(), ""));
    let p = net.proposal(0, 1);
    let hash = p.header.hash();
    propose(&mut c, &p);
    let others = net.others(&me.id());
    let mut out = Vec::new();
    for k in &others[..2] {
        out.extend(c.step(net.vote(VoteKind::Notarize, k, 0, hash)));
    }
    let fin = votes_sent(&out, VoteKind::Finalize);
    assert_eq!(fin.len(), 1, "finalize after a notarization");
    assert_eq!(c.safety().locked, Some((0, hash)));
    let mut out = Vec::new();
    for k in &others[..2] {
        out.extend(c.step(net.vote(VoteKind::Finalize, k, 0, hash)));
    }
    let block = out
        .iter()
        .find_map(|a| match a {
            Action::Commit(b) => Some(b.clone()),
            _ => None,
        })
        .expect("committed");
    assert_eq!(block.certificate.votes.len(), 3);
    let mut chain = ChainState::new(&net.genesis);
    chain.apply(block.clone()).unwrap();
    assert_eq!(c.height(), 2);
    // Serving is bounded: each block once per peer per height, however it is asked for.
    let asker = others[2].id();
    let mut served = 0;
    for _ in 0..3 {
        let out = c.step(Event::Message {
            from: asker,
            message: Message::SyncRequest { from_height: 1 },
        });
        served += out
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::ServeBlocks {
                        from_height: 1,
                        to_height: 1,
                        ..
                    }
                )
            })
            .count();
    }
    assert_eq!(served, 1);

    // A node that missed everything catches up from that block.
    let late = net.others(&me.id())[2];
    let mut l = net.node(OrgKey::from_secret(late.secret_bytes(), ""));
    let ask = l.step(Event::Message {
        from: me.id(),
        message: Message::Vote(SignedVote::sign(
            VoteKind::Nullify,
            3,
            0,
            Digest::ZERO,
            &me,
            &net.chain_id(),
        )),
    });
    assert!(ask.iter().any(|a| matches!(
        a,
        Action::Send {
            message: Message::SyncRequest { from_height: 1 },
            ..
        }
    )));
    let out = l.step(Event::Message {
        from: me.id(),
        message: Message::SyncResponse {
            blocks: vec![block.clone()],
        },
    });
    assert!(out.iter().any(|a| matches!(a, Action::Commit(_))));
    assert_eq!(l.height(), 2);
    // A tampered certificate is refused.
    let mut bad = block;
    bad.certificate.votes.pop();
    let mut m = net.node(OrgKey::from_secret(late.secret_bytes(), ""));
    m.step(Event::Message {
        from: me.id(),
        message: Message::SyncResponse { blocks: vec![bad] },
    });
    assert_eq!(m.height(), 1);
    assert_eq!(m.stats().drops.get("invalid-block"), Some(&1));
}

#[test]
fn never_finalizes_two_blocks_at_one_height() {
    let net = Net::new();
    let me = net.follower();
    let mut c = net.node(OrgKey::from_secret(me.secret_bytes(), ""));
    let others = net.others(&me.id());
    let p0 = net.proposal(0, 1);
    propose(&mut c, &p0);
    for k in &others[..2] {
        c.step(net.vote(VoteKind::Notarize, k, 0, p0.header.hash()));
    }
    assert_eq!(c.safety().finalized.map(|f| f.1), Some(p0.header.hash()));
    // View 0 is nullified anyway (Byzantine votes plus a timeout), and view 1's leader proposes
    // another block that three others notarize.
    let mut out = c.step(Event::Timer(Timer::View { height: 1, view: 0 }));
    for k in &others[..2] {
        out.extend(c.step(net.vote(VoteKind::Nullify, k, 0, Digest::ZERO)));
    }
    assert_eq!(c.view(), 1);
    let p1 = net.proposal(1, 2);
    out.extend(propose(&mut c, &p1));
    let notarized: Vec<Digest> = votes_sent(&out, VoteKind::Notarize)
        .iter()
        .map(|v| v.block_hash)
        .collect();
    assert_eq!(
        notarized,
        vec![p0.header.hash()],
        "locked: notarizes the view-0 block again in view 1, never the new one"
    );
    for k in &others {
        out.extend(c.step(net.vote(VoteKind::Notarize, k, 1, p1.header.hash())));
    }
    assert!(votes_sent(&out, VoteKind::Finalize).is_empty(), "{out:?}");
    assert_eq!(
        c.safety().locked,
        Some((1, p1.header.hash())),
        "relocks on the higher notarization"
    );
    assert_eq!(c.safety().finalized.map(|f| f.1), Some(p0.header.hash()));
}

#[test]
fn a_view_timeout_nullifies_once_and_persists_first() {
    let net = Net::new();
    let mut c = net.node(net.follower());
    let out = c.step(Event::Timer(Timer::View { height: 1, view: 0 }));
    let p = out
        .iter()
        .position(|a| matches!(a, Action::Persist(s) if s.nullified.contains(&0)));
    let s = out.iter().position(
        |a| matches!(a, Action::Broadcast(Message::Vote(v)) if v.kind == VoteKind::Nullify),
    );
    assert!(p.is_some() && p < s, "{out:?}");
    let out = c.step(Event::Timer(Timer::View { height: 1, view: 0 }));
    assert!(votes_sent(&out, VoteKind::Nullify).is_empty());
    // A stored state for a height the ledger passed is ignored; one from the future is an error.
    let future = SafetyState::new(7);
    assert!(Consensus::restore(
        Config::from_genesis(&net.genesis),
        net.follower(),
        &net.genesis,
        vec![],
        Some(future)
    )
    .is_err());
}

#[test]
fn safety_state_round_trips_and_rejects_garbage() {
    let mut s = SafetyState::new(3);
    s.notarized.insert(0, Digest::of(b"a"));
    s.nullified.insert(0);
    s.finalized = Some((0, Digest::of(b"a")));
    assert_eq!(SafetyState::decode(&s.encode()).ok(), Some(s.clone()));
    let mut b = s.encode();
    b.truncate(b.len() - 1);
    assert!(SafetyState::decode(&b).is_err());
}

/// Commit height 1 at `c` (a follower): a proposal, then notarize and finalize votes of two
/// other validators.
fn commit_height_1(net: &Net, c: &mut Consensus) {
    let p = net.proposal(0, 1);
    let hash = p.header.hash();
    propose(c, &p);
    let me = c.id();
    for kind in [VoteKind::Notarize, VoteKind::Finalize] {
        for k in &net.others(&me)[..2] {
            c.step(net.vote(kind, k, 0, hash));
        }
    }
    assert_eq!(c.height(), 2, "height 1 committed");
}

fn nullify_at(height: u64, view: u64, key: &OrgKey, chain_id: &Digest) -> Message {
    Message::Vote(SignedVote::sign(
        VoteKind::Nullify,
        height,
        view,
        Digest::ZERO,
        key,
        chain_id,
    ))
}

#[test]
fn next_height_buffer_admits_only_validators_of_that_height() {
    let net = Net::new();
    let me = net.follower();
    let mut c = net.node(OrgKey::from_secret(me.secret_bytes(), ""));
    // A flood of next-height votes from fresh identities, each delivered by itself.
    for i in 0..1_000 {
        let k = sim_key(10_000 + i);
        c.step(Event::Message {
            from: k.id(),
            message: nullify_at(2, 0, &k, &net.chain_id()),
        });
    }
    assert_eq!(c.buffer.len(), 0);
    assert_eq!(c.stats().drops.get("not-member"), Some(&1_000));
    // A forger cannot take a validator's slot: the signature is checked before storing.
    let others: Vec<OrgKey> = net
        .others(&me.id())
        .into_iter()
        .map(|k| OrgKey::from_secret(k.secret_bytes(), ""))
        .collect();
    let outsider = sim_key(99);
    let Message::Vote(mut forged) = nullify_at(2, 0, &outsider, &net.chain_id()) else {
        unreachable!()
    };
    forged.signer = others[0].id();
    c.step(Event::Message {
        from: outsider.id(),
        message: Message::Vote(forged),
    });
    assert_eq!(c.buffer.len(), 0);
    assert_eq!(c.stats().drops.get("bad-signature"), Some(&1));
    // The real validators' next-height nullify votes are kept, whoever delivers them, and count
    // once height 1 is final: view 0 of height 2 is nullified at once.
    for k in &others {
        c.step(Event::Message {
            from: outsider.id(),
            message: nullify_at(2, 0, k, &net.chain_id()),
        });
    }
    assert_eq!(c.buffer.len(), 3);
    commit_height_1(&net, &mut c);
    assert_eq!(
        c.view(),
        1,
        "the buffered votes nullified view 0 of height 2"
    );
    assert_eq!(c.buffer.len(), 0);
}

#[test]
fn next_height_buffer_is_bounded_per_validator() {
    let net = Net::new();
    let me = net.follower();
    let mut c = net.node(OrgKey::from_secret(me.secret_bytes(), ""));
    let others = net.others(&me.id());
    let (noisy, quiet) = (others[0], others[1]);
    let cap = c.cfg.max_buffered_per_signer;
    for view in 0..cap as u64 + 10 {
        c.step(Event::Message {
            from: noisy.id(),
            message: nullify_at(2, view, noisy, &net.chain_id()),
        });
    }
    assert_eq!(c.buffer.held_from(&noisy.id()), cap);
    assert_eq!(c.stats().drops.get("buffer-full"), Some(&10));
    // Re-sent copies are not stored twice; another validator still has its own room.
    c.step(Event::Message {
        from: noisy.id(),
        message: nullify_at(2, 0, quiet, &net.chain_id()),
    });
    c.step(Event::Message {
        from: noisy.id(),
        message: nullify_at(2, 0, quiet, &net.chain_id()),
    });
    assert_eq!(c.buffer.held_from(&quiet.id()), 1);
    assert_eq!(c.stats().drops.get("duplicate"), Some(&1));
    // A certificate is kept as its votes, each under its own signer's bound.
    let cert = Certificate {
        kind: VoteKind::Nullify,
        height: 2,
        view: 0,
        block_hash: Digest::ZERO,
        votes: others
            .iter()
            .map(|k| {
                SignedVote::sign(VoteKind::Nullify, 2, 0, Digest::ZERO, k, &net.chain_id())
                    .to_ledger_vote()
            })
            .collect(),
    };
    c.step(Event::Message {
        from: noisy.id(),
        message: Message::Certificate(cert),
    });
    assert_eq!(c.buffer.held_from(&others[2].id()), 1);
    assert_eq!(c.buffer.len(), cap + 2);
}

#[test]
fn far_future_messages_ask_for_sync_only_when_a_validator_signed() {
    let net = Net::new();
    let me = net.follower();
    let validator = net.others(&me.id())[0];
    let asks = |out: &[Action]| {
        out.iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Send {
                        message: Message::SyncRequest { .. },
                        ..
                    }
                )
            })
            .count()
    };
    let mut c = net.node(OrgKey::from_secret(me.secret_bytes(), ""));
    let outsider = sim_key(99);
    let out = c.step(Event::Message {
        from: outsider.id(),
        message: nullify_at(9, 0, &outsider, &net.chain_id()),
    });
    assert_eq!(
        asks(&out),
        0,
        "an outsider's far-future vote triggered a sync"
    );
    let Message::Vote(mut forged) = nullify_at(9, 0, &outsider, &net.chain_id()) else {
        unreachable!()
    };
    forged.signer = validator.id();
    let out = c.step(Event::Message {
        from: outsider.id(),
        message: Message::Vote(forged),
    });
    assert_eq!(asks(&out), 0, "a forged far-future vote triggered a sync");
    let d = &c.stats().drops;
    assert_eq!(
        (d.get("not-member"), d.get("bad-signature")),
        (Some(&1), Some(&1))
    );
    let out = c.step(Event::Message {
        from: outsider.id(),
        message: nullify_at(9, 0, validator, &net.chain_id()),
    });
    assert_eq!(
        asks(&out),
        1,
        "a validator's far-future vote asks its forwarder"
    );
}
