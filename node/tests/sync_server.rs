//! A lying block server on loopback: the syncing side keeps only the verified prefix of a forged
//! batch, and gives up on a server that never answers after the sync timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{config, next_listen};

use fedledger_ledger::block::{FinalizationCertificate, FinalizeVote};
use fedledger_ledger::testutil::{test_key, TestChain};
use fedledger_ledger::verify::ChainState;
use fedledger_ledger::{codec, OrgKey};
use fedledger_node::daemon::sync::{fetch_checked, SyncFault};
use fedledger_node::p2p::{FetchRequest, FetchResponse, NetworkEvent, NetworkService};
use libp2p::multiaddr::Protocol;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_batch_keeps_its_verified_prefix_and_a_silent_server_times_out() {
    let mut chain = TestChain::new(4, 1, "median");
    let genesis_state = ChainState::new(&chain.genesis);
    let mut blocks: Vec<_> = (0..4).map(|_| chain.next_block()).collect();
    // The liar vouches for the fourth block itself.
    let b = &mut blocks[3];
    let vote = FinalizeVote {
        height: b.header.height,
        view: b.header.view,
        block_hash: b.header.hash(),
    };
    let votes = (100..104)
        .map(|i| vote.sign(&test_key(i), &chain.chain_id()))
        .collect();
    b.certificate = FinalizationCertificate::from_votes(b.header.view, votes);
    let raw: Vec<Vec<u8>> = blocks.iter().map(codec::encode).collect();

    let (sa, ha, mut ea) =
        NetworkService::new(&OrgKey::from_secret([7; 32], "liar"), config(vec![])).unwrap();
    tokio::spawn(sa.run());
    let addr = next_listen(&mut ea)
        .await
        .with(Protocol::P2p(ha.local_peer()));
    // From height 1 the liar serves its forged batch; from any other height it never answers.
    let server = ha.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(e) = ea.recv().await {
            if let NetworkEvent::Fetch {
                request: FetchRequest::Blocks { from, .. },
                channel,
                ..
            } = e
            {
                if from == 1 {
                    let _ = server
                        .respond(channel, FetchResponse::Blocks(raw.clone()))
                        .await;
                } else {
                    held.push(channel);
                }
            }
        }
    });

    let (sb, hb, mut eb) =
        NetworkService::new(&OrgKey::from_secret([8; 32], "syncer"), config(vec![addr])).unwrap();
    tokio::spawn(sb.run());
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(NetworkEvent::Connected(p)) = eb.recv().await {
                if p == ha.local_peer() {
                    break;
                }
            }
        }
    })
    .await
    .expect("connected to the liar");
    tokio::spawn(async move { while eb.recv().await.is_some() {} });

    let timeout = Duration::from_secs(1);
    let checked = fetch_checked(&hb, ha.local_peer(), genesis_state.clone(), 64, timeout).await;
    assert_eq!(checked.blocks, blocks[..3].to_vec());
    let fault = checked.fault.expect("the forged block is reported");
    assert!(matches!(fault, SyncFault::BadCertificate(_)), "{fault}");
    assert_eq!(fault.reason(), "sync-bad-certificate");

    // Resuming after the verified prefix hits the silent branch: the slot is back within the
    // sync timeout, not the blob fetch timeout.
    let mut state = genesis_state;
    for b in &checked.blocks {
        state.apply(b.clone()).unwrap();
    }
    let t = Instant::now();
    let silent = fetch_checked(&hb, ha.local_peer(), state, 64, timeout).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(silent.blocks.is_empty());
    assert_eq!(silent.fault, Some(SyncFault::Timeout));
    hb.shutdown().await;
    ha.shutdown().await;
}
