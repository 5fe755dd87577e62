//! Fault and attack runs against real node processes: repeated SIGKILLs at random instants, and
//! a hostile peer feeding the network garbage, forged and replayed messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::{DpSpend, LocalMetrics, UpdateAnnouncement};
use fedledger_ledger::{Digest, OrgKey};
use fedledger_node::consensus::{Message, SignedVote, VoteKind};
use fedledger_node::daemon::wire::{Envelope, Gossip};
use fedledger_node::p2p::{
    FetchRequest, FetchResponse, NetworkConfig, NetworkEvent, NetworkService,
};
use fedledger_tests::{http_get, serial, Testnet};
use libp2p::gossipsub::MessageAcceptance;
use std::time::{Duration, Instant};

const FAST: [&str; 4] = ["--collect-timeout-ms", "1500", "--view-timeout-ms", "2000"];

/// A small deterministic generator: the kill schedule is reproducible from the seed.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn members_killed_at_random_instants_recover_and_agree() {
    let _g = serial();
    let rounds = 40;
    let mut net = Testnet::setup(
        &[
            &["--nodes", "4", "--rounds", "40", "--epsilon-max", "100"][..],
            &FAST,
        ]
        .concat(),
    );
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, Duration::from_secs(60));
    let mut rng = Lcg(20261122);
    let mut kills = 0;
    let t = Instant::now();
    // One member down at a time (three of four are a quorum), killed at a random instant —
    // mid-training, mid-vote, mid-commit — and restarted after a random pause.
    while kills < 8
        && net.height(0).max(net.height(1)) < rounds - 2
        && t.elapsed() < Duration::from_secs(150)
    {
        let victim = rng.below(4) as usize;
        std::thread::sleep(Duration::from_millis(100 + rng.below(900)));
        net.kill9(victim);
        kills += 1;
        std::thread::sleep(Duration::from_millis(100 + rng.below(700)));
        net.start(victim);
    }
    assert!(kills >= 5, "only {kills} kills before the run ended");
    net.wait_height(&[0, 1, 2, 3], rounds, Duration::from_secs(180));
    let audits = net.finish_and_compare(rounds);
    for a in &audits {
        assert_eq!(a["report"]["height"], rounds, "{a}");
    }
}

fn rogue_config(bootstrap: &str) -> NetworkConfig {
    NetworkConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap: vec![bootstrap.parse().unwrap()],
        topic: String::new(),
        heartbeat: Duration::from_millis(200),
        redial_every: Duration::from_secs(1),
    }
}

#[test]
fn a_hostile_peer_is_rejected_and_the_members_keep_finalizing() {
    let _g = serial();
    let rounds = 8;
    let mut net = Testnet::setup(&[&["--nodes", "4", "--rounds", "8"][..], &FAST].concat());
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, Duration::from_secs(60));
    let chain_id = fedledger_ledger::verify::ChainState::new(
        &fedledger_ledger::Genesis::load(&net.genesis).unwrap(),
    )
    .chain_id();
    let member_key = OrgKey::read_from(&net.root.path().join("net/keys/org-0.key")).unwrap();
    let addr = net.nodes[1].addr.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let rogue = OrgKey::generate("rogue");
        let mut cfg = rogue_config(&addr);
        cfg.topic = format!("fedledger/{}", chain_id.to_hex());
        let (svc, h, mut ev) = NetworkService::new(&rogue, cfg).unwrap();
        tokio::spawn(svc.run());
        let target = loop {
            if let Some(NetworkEvent::Connected(p)) = ev.recv().await {
                break p;
            }
        };
        // Let the gossip mesh form, and capture one real announcement to replay later.
        let mut captured = None;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) && captured.is_none() {
            if let Ok(Some(NetworkEvent::Gossip {
                data, id, source, ..
            })) = tokio::time::timeout(Duration::from_millis(500), ev.recv()).await
            {
                let _ = h
                    .report_validation(id, source, MessageAcceptance::Ignore)
                    .await;
                if let Ok(Envelope {
                    body: Gossip::Announce(c),
                    ..
                }) = Envelope::decode(&data)
                {
                    captured = Some(c);
                }
            }
        }
        let captured = captured.expect("no announcement seen");
        let drain = tokio::spawn(async move { while ev.recv().await.is_some() {} });
        let env = |body| {
            Envelope {
                nonce: rand_nonce(),
                body,
            }
            .encode()
        };
        for i in 0..20u8 {
            // Garbage that does not decode.
            let _ = h.publish(vec![0xff, i, 0x13, 0x37, 0x00, 0x42]).await;
            // A member's vote, signed for another chain.
            let vote = SignedVote::sign(
                VoteKind::Notarize,
                99,
                0,
                Digest::of(&[i]),
                &member_key,
                &Digest::of(b"other chain"),
            );
            let _ = h.publish(env(Gossip::Consensus(Message::Vote(vote)))).await;
            // An update from a non-member.
            // (for the round the node is in, so only membership can reject it)
            let current = net.height(1) + 1;
            let fake = UpdateAnnouncement {
                round: current,
                org: rogue.id(),
                update_hash: Digest::of(&[i, 1]),
                base_model: Digest::ZERO,
                num_examples: 1,
                dp: DpSpend {
                    sampling_rate: 0.1,
                    noise_multiplier: 1.0,
                    steps: 1,
                },
                metrics: LocalMetrics::default(),
            }
            .sign(&rogue, &chain_id);
            let _ = h.publish(env(Gossip::Announce(fake))).await;
            // A replayed (stale) real announcement.
            let _ = h.publish(env(Gossip::Announce(captured.clone()))).await;
            // Fetches for unknown blobs and far-away heights are answered empty, not fatal.
            if i % 5 == 0 {
                let r = h
                    .fetch(target, FetchRequest::Blob(Digest::of(&[i, 2])))
                    .await;
                assert!(matches!(r, Ok(FetchResponse::Blob(None))), "{r:?}");
                let r = h
                    .fetch(
                        target,
                        FetchRequest::Blocks {
                            from: u64::MAX - 3,
                            max: u32::MAX,
                        },
                    )
                    .await;
                assert!(
                    matches!(r, Ok(FetchResponse::Blocks(ref b)) if b.is_empty()),
                    "{r:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drain.abort();
        h.shutdown().await;
    });
    // Raw garbage and an oversized frame on the libp2p port (no handshake at all): the node
    // drops the connection and carries on.
    let port: u16 = addr.split('/').nth(4).unwrap().parse().unwrap();
    for size in [64usize, 8 << 20] {
        if let Ok(mut sock) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let junk: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
            let _ = std::io::Write::write_all(&mut sock, &junk);
        }
    }
    // And the status listener: an endless header and an unknown method.
    if let Ok(mut sock) = std::net::TcpStream::connect(net.nodes[1].status.as_str()) {
        let _ = std::io::Write::write_all(&mut sock, &vec![b'A'; 1 << 20]);
    }
    net.wait_height(&[0, 1, 2, 3], rounds, Duration::from_secs(120));
    let metrics = http_get(&net.nodes[1].status, "/metrics").unwrap();
    let count = |reason: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("fedledger_rejected_total{{reason=\"{reason}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(count("malformed") > 0, "{metrics}");
    assert!(count("bad-signature") > 0, "{metrics}");
    assert!(count("non-member") > 0, "{metrics}");
    assert!(count("wrong-round") > 0, "{metrics}");
    net.finish_and_compare(rounds);
}

fn rand_nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
