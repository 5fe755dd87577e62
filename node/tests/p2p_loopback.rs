//! Two nodes on loopback: gossip with validation, and a 4 MB update fetched over request-response.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{config, next_listen};

use fedledger_ledger::{Digest, OrgKey};
use fedledger_node::p2p::{org_of_peer, FetchRequest, FetchResponse, NetworkEvent, NetworkService};
use libp2p::gossipsub::MessageAcceptance;
use libp2p::multiaddr::Protocol;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_and_fetch_a_4mb_update_over_loopback() {
    let ka = OrgKey::from_secret([1; 32], "a");
    let kb = OrgKey::from_secret([2; 32], "b");
    let (sa, ha, mut ea) = NetworkService::new(&ka, config(vec![])).unwrap();
    tokio::spawn(sa.run());
    let addr_a = next_listen(&mut ea)
        .await
        .with(Protocol::P2p(ha.local_peer()));
    let (sb, hb, mut eb) = NetworkService::new(&kb, config(vec![addr_a])).unwrap();
    tokio::spawn(sb.run());

    // A serves blobs from a map; everything else it receives is logged into a channel.
    let blob: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let blob_hash = Digest::of(&blob);
    let served = blob.clone();
    let ha2 = ha.clone();
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(e) = ea.recv().await {
            match e {
                NetworkEvent::Fetch {
                    request: FetchRequest::Blob(h),
                    channel,
                    ..
                } => {
                    let body = (h == blob_hash).then(|| served.clone());
                    ha2.respond(channel, FetchResponse::Blob(body))
                        .await
                        .unwrap();
                }
                NetworkEvent::Gossip {
                    source,
                    org,
                    id,
                    data,
                } => {
                    ha2.report_validation(id, source, MessageAcceptance::Accept)
                        .await
                        .unwrap();
                    got_tx.send((org, data)).await.unwrap();
                }
                _ => {}
            }
        }
    });
    tokio::spawn(async move { while eb.recv().await.is_some() {} });

    // Gossip from B reaches A once the subscription is known; B's org is recognised from its peer id.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if hb.publish(b"announcement".to_vec()).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "B never found a subscribed peer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (org, data) = tokio::time::timeout(Duration::from_secs(20), got_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data, b"announcement");
    assert_eq!(org, Some(kb.id()));
    assert_eq!(org_of_peer(&hb.local_peer()), Some(kb.id()));

    // B fetches the 4 MB blob by hash and checks it.
    let t = Instant::now();
    let r = hb
        .fetch(ha.local_peer(), FetchRequest::Blob(blob_hash))
        .await
        .unwrap();
    let took = t.elapsed();
    let FetchResponse::Blob(Some(bytes)) = r else {
        panic!("expected the blob")
    };
    assert_eq!(Digest::of(&bytes), blob_hash);
    eprintln!("fetched 4 MiB over loopback in {took:?}");
    let r = hb
        .fetch(ha.local_peer(), FetchRequest::Blob(Digest::of(b"missing")))
        .await
        .unwrap();
    assert_eq!(r, FetchResponse::Blob(None));
    hb.shutdown().await;
    ha.shutdown().await;
}
