//! `configs/grafana-dashboard.json` asks only for metrics the node serves: every metric name in
//! a panel expression is checked against the `/metrics` text of the node's real registry (its
//! own figures plus libp2p's), after two services connected and gossiped over loopback so the
//! libp2p families have samples.
//!
//! Families that only get samples from events this test does not cause (e.g. outgoing
//! connection errors, connection durations, which appear when a connection closes) are matched
//! by their `# TYPE` descriptor instead, and printed as such.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{config, next_listen};

use fedledger_ledger::OrgKey;
use fedledger_node::daemon::status::{metrics, Shared};
use fedledger_node::p2p::{NetworkEvent, NetworkService};
use libp2p::gossipsub::MessageAcceptance;
use libp2p::multiaddr::Protocol;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Metric names (`fedledger_*`, `libp2p_*`) in a PromQL expression.
fn names_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = expr.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut i = 0;
    while i < b.len() {
        if ident(b[i]) && (i == 0 || !ident(b[i - 1])) {
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            if word.starts_with("fedledger_") || word.starts_with("libp2p_") {
                out.insert(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// (names with samples, names only described): samples are the first word of each sample line;
/// a `# TYPE` line describes `name` (gauge), `name_total` (counter) or `name_bucket`, `_sum`,
/// `_count` (histogram).
fn served(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut sampled = BTreeSet::new();
    let mut described = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut w = rest.split_whitespace();
            let (Some(name), Some(kind)) = (w.next(), w.next()) else {
                continue;
            };
            match kind {
                "counter" => {
                    described.insert(format!("{name}_total"));
                }
                "histogram" => {
                    for s in ["_bucket", "_sum", "_count"] {
                        described.insert(format!("{name}{s}"));
                    }
                }
                _ => {
                    described.insert(name.to_string());
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            sampled.insert(name.to_string());
        }
    }
    (sampled, described)
}

fn dashboard_exprs() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/grafana-dashboard.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        v["templating"]["list"][0]["type"], "datasource",
        "a Prometheus datasource variable comes first"
    );
    let mut exprs = Vec::new();
    for p in v["panels"].as_array().unwrap() {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    exprs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_metric_is_served() {
    let shared = Shared::default();
    let mut registry = metrics::node_registry(&shared);
    shared.reject("malformed");
    shared.record_round(0.2);

    // A: the node under test, with metrics. B dials it and gossips.
    let ka = OrgKey::from_secret([7; 32], "a");
    let kb = OrgKey::from_secret([8; 32], "b");
    let (sa, ha, mut ea) = NetworkService::new(&ka, config(vec![])).unwrap();
    tokio::spawn(sa.with_metrics(&mut registry).run());
    let addr_a = next_listen(&mut ea)
        .await
        .with(Protocol::P2p(ha.local_peer()));
    let (sb, hb, mut eb) = NetworkService::new(&kb, config(vec![addr_a])).unwrap();
    tokio::spawn(sb.run());
    tokio::spawn(async move { while eb.recv().await.is_some() {} });
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel(4);
    let ha2 = ha.clone();
    tokio::spawn(async move {
        while let Some(e) = ea.recv().await {
            if let NetworkEvent::Gossip { source, id, .. } = e {
                let _ = ha2
                    .report_validation(id, source, MessageAcceptance::Accept)
                    .await;
                let _ = got_tx.send(()).await;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while hb.publish(b"hello".to_vec()).await.is_err() {
        assert!(Instant::now() < deadline, "B never found a subscribed peer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::timeout(Duration::from_secs(20), got_rx.recv())
        .await
        .expect("gossip reached A")
        .unwrap();

    let text = metrics::encode(&registry);
    let (sampled, described) = served(&text);
    assert!(
        sampled.contains("libp2p_gossipsub_messages_total"),
        "{text}"
    );
    assert!(
        sampled.contains("libp2p_swarm_connections_established_total"),
        "{text}"
    );
    let mut by_descriptor = Vec::new();
    let mut missing = Vec::new();
    let exprs = dashboard_exprs();
    assert!(!exprs.is_empty());
    for expr in &exprs {
        let names = names_in(expr);
        assert!(!names.is_empty(), "no metric in `{expr}`");
        for n in names {
            if sampled.contains(&n) {
                continue;
            }
            if described.contains(&n) {
                by_descriptor.push(n);
            } else {
                missing.push(format!("{n} (in `{expr}`)"));
            }
        }
    }
    by_descriptor.sort();
    by_descriptor.dedup();
    println!("matched by descriptor only (no sample without the event): {by_descriptor:?}");
    assert!(missing.is_empty(), "not served: {missing:?}\n{text}");
}

#[test]
fn names_are_found_in_expressions() {
    let n = names_in(
        "histogram_quantile(0.5, sum by (le) (rate(fedledger_round_seconds_bucket{x=\"y\"}[5m])))",
    );
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        vec!["fedledger_round_seconds_bucket"]
    );
}
