//! `fedledger status` and `fedledger fetch` against real nodes, and `fetch` against a node that
//! serves a forged block.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::store::{LedgerStore, SledStore};
use fedledger_ledger::{codec, Block, Entry, OrgKey};
use fedledger_node::p2p::{
    FetchRequest, FetchResponse, NetworkConfig, NetworkEvent, NetworkService,
};
use fedledger_tests::{cli, serial, Testnet};
use libp2p::multiaddr::Protocol;
use serde_json::Value;
use std::time::Duration;

const FAST: [&str; 4] = ["--collect-timeout-ms", "1500", "--view-timeout-ms", "2000"];

#[test]
fn status_and_fetch_from_a_running_node_and_a_lying_one_is_caught() {
    let _g = serial();
    let mut net = Testnet::setup(&[&["--nodes", "4", "--rounds", "4"][..], &FAST].concat());
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 4, Duration::from_secs(60));

    // Status, for a person and as JSON.
    let out = cli(&["status", "--node", &net.nodes[2].status]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("height      4") && text.contains("budget") && text.contains("org-2"),
        "{text}"
    );
    let out = cli(&["status", "--node", &net.nodes[2].status, "--json"]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["height"], 4);
    assert_eq!(s["members"].as_array().unwrap().len(), 4);
    let out = cli(&["status", "--node", "127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no fedledger node status"));

    // Fetch from a running node: verified, and the export audits.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger.fedledger");
    let genesis = net.genesis.to_str().unwrap().to_string();
    let out = cli(&[
        "fetch",
        "--peer",
        &net.nodes[1].addr,
        "--genesis",
        &genesis,
        "--out",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["blocks"].as_u64().unwrap() >= 4, "{v}");
    let out = cli(&[
        "audit",
        "--genesis",
        &genesis,
        "--file",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cli(&[
        "fetch",
        "--peer",
        "/ip4/127.0.0.1/tcp/1",
        "--genesis",
        &genesis,
        "--out",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/p2p/"));

    // A lying node: serves the real ledger with one entry of block 3 altered (still decodes).
    net.stop_all();
    let store = SledStore::open(&net.nodes[0].dir.join("ledger")).unwrap();
    let tip = store.tip().unwrap().unwrap().0;
    let mut raw: Vec<Vec<u8>> = (1..=tip)
        .map(|h| store.raw_block(h).unwrap().unwrap())
        .collect();
    let mut b3: Block = codec::decode(&raw[2], "block").unwrap();
    for e in &mut b3.entries {
        if let Entry::Budget(s) = e {
            s.epsilon_total /= 2.0;
        }
    }
    raw[2] = codec::encode(&b3);
    drop(store);
    let lie = dir.path().join("lie.fedledger");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ok, stderr) = rt.block_on(async {
        let key = OrgKey::generate("liar");
        let (svc, h, mut ev) = NetworkService::new(
            &key,
            NetworkConfig {
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
                bootstrap: vec![],
                topic: "x".into(),
                heartbeat: Duration::from_millis(500),
                redial_every: Duration::from_secs(1),
            },
        )
        .unwrap();
        tokio::spawn(svc.run());
        let addr = loop {
            if let Some(NetworkEvent::Listening(a)) = ev.recv().await {
                break a.with(Protocol::P2p(h.local_peer()));
            }
        };
        let h2 = h.clone();
        tokio::spawn(async move {
            while let Some(e) = ev.recv().await {
                if let NetworkEvent::Fetch {
                    request: FetchRequest::Blocks { from, max },
                    channel,
                    ..
                } = e
                {
                    let blocks: Vec<Vec<u8>> = raw
                        .iter()
                        .skip(from.saturating_sub(1) as usize)
                        .take(max as usize)
                        .cloned()
                        .collect();
                    let _ = h2.respond(channel, FetchResponse::Blocks(blocks)).await;
                }
            }
        });
        let out = tokio::task::spawn_blocking(move || {
            cli(&[
                "fetch",
                "--peer",
                &addr.to_string(),
                "--genesis",
                &genesis,
                "--out",
                lie.to_str().unwrap(),
            ])
        })
        .await
        .unwrap();
        (
            out.status.code() == Some(1),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    });
    assert!(ok, "{stderr}");
    assert!(stderr.contains("height 3"), "{stderr}");
    assert!(!dir.path().join("lie.fedledger").exists());
    assert!(!dir.path().join("lie.partial").exists());
}
