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

    // Admin calls carry the node's token: read from its data dir; a missing token file is a
    // clear error, a wrong token is refused by the node.
    let dir = tempfile::tempdir().unwrap();
    let status2 = net.nodes[2].status.clone();
    let org3 = net.nodes[3].org.clone();
    let out = cli(&["admit", &org3, "--node", &status2]);
    assert!(!out.status.success(), "admit without a token source");
    let admit_with_token_file = |file: &std::path::Path| {
        cli(&[
            "admit",
            &org3,
            "--node",
            &status2,
            "--token-file",
            file.to_str().unwrap(),
        ])
    };
    let out = admit_with_token_file(&dir.path().join("missing.token"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot read the admin token"), "{err}");
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "0".repeat(64)).unwrap();
    let out = admit_with_token_file(&wrong);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("403"), "{err}");
    let out = cli(&[
        "admit",
        &org3,
        "--node",
        &status2,
        "--data-dir",
        net.nodes[2].dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("queued"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let token = net.nodes[2].dir.join("admin.token");
        let mode = std::fs::metadata(&token).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}: {mode:o}", token.display());
    }

    // Fetch from a running node: verified, and the export audits.
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
    // The node's latest checkpoint over libp2p, opened against the genesis members; an older
    // checkpoint made from the fetched export is consistent with it, by a proof the running
    // node serves over libp2p and over HTTP alike.
    let new_cp = dir.path().join("new.checkpoint");
    let out = cli(&[
        "checkpoint",
        "--genesis",
        &genesis,
        "--peer",
        &net.nodes[1].addr,
        "--out",
        new_cp.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["size"], 4, "{v}");
    assert_eq!(v["signers"], serde_json::json!([net.nodes[1].org]), "{v}");
    assert_eq!(std::fs::read_to_string(&new_cp).unwrap(), v["note"]);
    let old_cp = dir.path().join("old.checkpoint");
    let key0 = net.genesis.parent().unwrap().join("keys/org-0.key");
    let out = cli(&[
        "checkpoint",
        "--genesis",
        &genesis,
        "--file",
        file.to_str().unwrap(),
        "--height",
        "2",
        "--key",
        key0.to_str().unwrap(),
        "--out",
        old_cp.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for peer in [&net.nodes[1].addr, &net.nodes[2].addr, &net.nodes[1].status] {
        let out = cli(&[
            "consistency",
            "--genesis",
            &genesis,
            "--old",
            old_cp.to_str().unwrap(),
            "--new",
            new_cp.to_str().unwrap(),
            "--peer",
            peer,
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        assert!(
            out.status.success() && v["consistent"] == true,
            "{peer}: {v} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A libp2p peer that cannot be reached is a clear error, not a verdict.
    let out = cli(&[
        "consistency",
        "--genesis",
        &genesis,
        "--old",
        old_cp.to_str().unwrap(),
        "--new",
        new_cp.to_str().unwrap(),
        "--peer",
        &format!("/ip4/127.0.0.1/tcp/1/p2p/{}", libp2p::PeerId::random()),
        "--timeout",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not connect"));

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

/// 10,000 idle TCP connections to one node's status listener: it keeps answering `/status`
/// (which `wait_height` reads from every node) and the testnet keeps finalizing.
#[test]
fn idle_connection_flood_does_not_stop_status_or_rounds() {
    let _g = serial();
    let mut n: usize = 10_000;
    let want = n as u64 + 1024;
    let limit = rlimit::increase_nofile_limit(want).unwrap_or(0);
    if limit < want {
        n = limit.saturating_sub(1024) as usize;
        println!(
            "NOTICE: RLIMIT_NOFILE hard limit {limit} < {want}: scaled down to {n} idle connections"
        );
    }
    // Rounds and a budget that outlast the flood, however long it takes here (the rounds go on
    // during it: 10,000 connects took 35-65 s on a busy 2-core machine, ~1.6 rounds/s).
    let mut net = Testnet::setup(
        &[
            &["--nodes", "4", "--rounds", "1000", "--epsilon-max", "1000"][..],
            &FAST,
        ]
        .concat(),
    );
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(60));
    let h0 = net.height(2);
    let target: std::net::SocketAddr = net.nodes[2].status.parse().unwrap();
    let mut idle = Vec::with_capacity(n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        match std::net::TcpStream::connect_timeout(&target, Duration::from_secs(10)) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} refused: {e}", idle.len() + 1),
        }
    }
    let h = net.height(2);
    println!(
        "{n} idle connections opened in {:?}; node 2 went from height {h0} to {h} meanwhile",
        t.elapsed()
    );
    assert!(h >= 2, "node 2 answers /status under the flood");
    net.wait_height(&[0, 1, 2, 3], h + 2, Duration::from_secs(60));
    let out = cli(&["status", "--node", &net.nodes[2].status]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(idle);
    net.finish_and_compare(h + 2);
}
