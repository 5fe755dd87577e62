//! How long a 4 MiB update takes to reach 15 peers over loopback libp2p: the origin announces,
//! every peer fetches the bytes from it by hash (the daemon's path), and the clock stops when the
//! last peer holds verified bytes. Prints the median of several runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::{Digest, OrgKey};
use fedledger_node::p2p::{
    FetchRequest, FetchResponse, NetworkConfig, NetworkEvent, NetworkHandle, NetworkService,
};
use libp2p::multiaddr::Protocol;
use std::time::{Duration, Instant};

const PEERS: usize = 15;
const RUNS: usize = 5;

fn config(bootstrap: Vec<libp2p::Multiaddr>) -> NetworkConfig {
    NetworkConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        topic: "fedledger-bench".into(),
        heartbeat: Duration::from_millis(500),
        redial_every: Duration::from_secs(1),
    }
}

async fn run_once(blob: &[u8], seed: u8) -> Duration {
    let hash = Digest::of(blob);
    let origin = OrgKey::from_secret([seed; 32], "origin");
    let (svc, oh, mut oe) = NetworkService::new(&origin, config(vec![])).unwrap();
    tokio::spawn(svc.run());
    let addr = loop {
        if let Some(NetworkEvent::Listening(a)) = oe.recv().await {
            break a.with(Protocol::P2p(oh.local_peer()));
        }
    };
    let served = blob.to_vec();
    let oh2 = oh.clone();
    tokio::spawn(async move {
        while let Some(e) = oe.recv().await {
            if let NetworkEvent::Fetch {
                request: FetchRequest::Blob(h),
                channel,
                ..
            } = e
            {
                let body = (h == hash).then(|| served.clone());
                let _ = oh2.respond(channel, FetchResponse::Blob(body)).await;
            }
        }
    });
    let mut peers: Vec<NetworkHandle> = Vec::new();
    let mut connected = Vec::new();
    for i in 0..PEERS {
        let key = OrgKey::from_secret([seed.wrapping_add(1 + i as u8); 32], "peer");
        let (svc, h, mut ev) = NetworkService::new(&key, config(vec![addr.clone()])).unwrap();
        tokio::spawn(svc.run());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Some(e) = ev.recv().await {
                if matches!(e, NetworkEvent::Connected(_)) {
                    if let Some(t) = tx.take() {
                        let _ = t.send(());
                    }
                }
            }
        });
        connected.push(rx);
        peers.push(h);
    }
    for c in connected {
        c.await.unwrap();
    }
    let origin_peer = oh.local_peer();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for h in &peers {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            match h
                .fetch(origin_peer, FetchRequest::Blob(hash))
                .await
                .unwrap()
            {
                FetchResponse::Blob(Some(b)) => assert_eq!(Digest::of(&b), hash),
                other => panic!("unexpected {other:?}"),
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = t.elapsed();
    for h in &peers {
        h.shutdown().await;
    }
    oh.shutdown().await;
    took
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let blob: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|r| rt.block_on(run_once(&blob, 10 + 20 * r as u8)))
        .collect();
    times.sort();
    println!(
        "spread 4 MiB to {PEERS} peers over loopback: median {:.1} ms (min {:.1}, max {:.1}) over {RUNS} runs; {:.0} MiB/s out of the origin",
        times[RUNS / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3,
        (PEERS * 4) as f64 / times[RUNS / 2].as_secs_f64()
    );
}
