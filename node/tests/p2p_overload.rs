//! A node that stops reading its network events while a peer floods it with gossip and fetch
//! requests: its network task must keep answering (no deadlock), shed the excess with counts,
//! and lose no connection event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{config, next_listen};

use fedledger_ledger::{Digest, OrgKey};
use fedledger_node::p2p::{FetchRequest, NetworkEvent, NetworkService, EVENT_QUEUE};
use libp2p::multiaddr::Protocol;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_node_that_reads_nothing_still_answers_and_sheds_with_counts() {
    let ka = OrgKey::from_secret([11; 32], "flooded");
    let kb = OrgKey::from_secret([12; 32], "flooder");
    let (sa, ha, mut ea) = NetworkService::new(&ka, config(vec![])).unwrap();
    tokio::spawn(sa.run());
    let addr_a = next_listen(&mut ea)
        .await
        .with(Protocol::P2p(ha.local_peer()));
    // From here on nobody reads A's events: the node is "busy".
    let (sb, hb, mut eb) = NetworkService::new(&kb, config(vec![addr_a])).unwrap();
    tokio::spawn(sb.run());
    tokio::spawn(async move { while eb.recv().await.is_some() {} });

    // Gossip flood: more distinct messages than A's queue holds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0usize;
    let mut n = 0u64;
    while ha.stats().overload_gossip() == 0 {
        assert!(
            Instant::now() < deadline,
            "no gossip shed after {sent} messages"
        );
        n += 1;
        let mut msg = n.to_be_bytes().to_vec();
        msg.resize(512, 7);
        if hb.publish(msg).await.is_ok() {
            sent += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if sent > EVENT_QUEUE && sent % 64 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // Fetch flood: every request fails fast (shed), none hangs until the request timeout.
    let fetches: Vec<_> = (0..40u32)
        .map(|i| {
            let hb = hb.clone();
            let a = ha.local_peer();
            tokio::spawn(async move {
                let req = FetchRequest::Blob(Digest::of(&i.to_be_bytes()));
                tokio::time::timeout(Duration::from_secs(20), hb.fetch(a, req)).await
            })
        })
        .collect();
    for f in fetches {
        let r = f.await.unwrap();
        assert!(
            matches!(r, Ok(Err(_))),
            "a shed fetch fails, it does not hang: {r:?}"
        );
    }
    assert!(ha.stats().overload_fetch() > 0);

    // The flooded node's network task still answers its handle promptly.
    let peers = tokio::time::timeout(Duration::from_secs(2), ha.peers())
        .await
        .expect("peers() answered")
        .unwrap();
    assert!(peers.contains(&hb.local_peer()));
    let published =
        tokio::time::timeout(Duration::from_secs(2), ha.publish(b"still here".to_vec()))
            .await
            .expect("publish() answered");
    assert!(published.is_ok(), "{published:?}");

    // The queue held what fitted; the connection event was not lost to the flood.
    let mut queued = 0usize;
    let mut saw_connected = false;
    while let Ok(e) = ea.try_recv() {
        queued += 1;
        if matches!(e, NetworkEvent::Connected(p) if p == hb.local_peer()) {
            saw_connected = true;
        }
    }
    assert!(queued <= EVENT_QUEUE, "{queued} events queued");
    assert!(saw_connected, "B's connection event was delivered");
    eprintln!(
        "gossip sent {sent}, shed {}; fetches shed {}",
        ha.stats().overload_gossip(),
        ha.stats().overload_fetch()
    );
    hb.shutdown().await;
    ha.shutdown().await;
}
