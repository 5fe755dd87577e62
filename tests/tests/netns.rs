//! Real network faults between real node processes: each node in its own Linux network
//! namespace, joined by the userspace packet relay of `fedledger_tests::netns` (per-link delay,
//! jitter, loss and partition cuts on real IP packets, so the kernels' TCP retransmits and backs
//! off). Needs root (namespaces and /dev/net/tun); elsewhere each test prints
//! `netns: skipped: <reason>` and passes.
//!
//! Figures (catch-up time, rounds and per-round latency) are printed with `netns:` so that
//! `cargo test -p fedledger-tests --test netns -- --nocapture` shows them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_tests::netns::{self, Lab, LinkFaults};
use fedledger_tests::{serial, Testnet};
use std::time::{Duration, Instant};

const ALL: [usize; 4] = [0, 1, 2, 3];

/// Short timeouts keep the file within the CI budget; `--epsilon-max` is generous so no member
/// runs out of budget however many rounds a slow machine ends up running.
fn setup(view_timeout_ms: &str) -> Testnet {
    Testnet::setup(&[
        "--nodes",
        "4",
        "--rounds",
        "200",
        "--epsilon-max",
        "1000",
        "--collect-timeout-ms",
        "1500",
        "--view-timeout-ms",
        view_timeout_ms,
    ])
}

/// A lab of `n` namespaces, or `None` (with the notice) where namespaces or tun devices cannot
/// be made.
fn lab(n: usize) -> Option<Lab> {
    match Lab::new(n) {
        Ok(l) => Some(l),
        Err(reason) => {
            println!("netns: skipped: {reason}");
            None
        }
    }
}

/// A counter from node `i`'s `/metrics` (0 if absent).
fn metric(net: &Testnet, i: usize, name: &str) -> u64 {
    let ns = net.nodes[i].netns.as_deref().unwrap();
    netns::http_get_in(ns, &net.nodes[i].status, "/metrics")
        .unwrap_or_default()
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn max_height(net: &Testnet, which: &[usize]) -> u64 {
    which.iter().map(|&i| net.height(i)).max().unwrap_or(0)
}

/// Wait until `cond` holds, checking every node's process, or fail with `what`.
fn wait_until(
    net: &mut Testnet,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut(&Testnet) -> bool,
) {
    let t = Instant::now();
    loop {
        for i in 0..net.nodes.len() {
            net.assert_running(i);
        }
        if cond(net) {
            return;
        }
        assert!(t.elapsed() < timeout, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_cut_off_minority_stalls_alone_and_catches_up_after_healing() {
    let _g = serial();
    let Some(lab) = lab(4) else { return };
    let mut net = setup("2000");
    lab.attach(&mut net);
    net.start_all();
    net.wait_height(&ALL, 2, Duration::from_secs(90));

    lab.partition(&[3]);
    let at_cut = max_height(&net, &ALL);
    // Three of four are a quorum: they keep finalizing without node 3.
    net.wait_height(&[0, 1, 2], at_cut + 3, Duration::from_secs(90));
    // Alone, node 3 can at most finish the height whose votes were already on their way.
    let alone = net.height(3);
    assert!(
        alone <= at_cut + 1,
        "node 3 reached {alone} alone (cut at {at_cut})"
    );

    lab.heal();
    let healed = Instant::now();
    let target = max_height(&net, &[0, 1, 2]);
    net.wait_height(&[3], target, Duration::from_secs(90));
    let catch_up = healed.elapsed();
    println!(
        "netns: minority heal: node 3 from height {alone} to {target} in {:.2} s ({} cut \
         packets, {} blocks synced)",
        catch_up.as_secs_f64(),
        lab.counters.snapshot().2,
        metric(&net, 3, "fedledger_synced_blocks_total")
    );
    net.wait_height(&ALL, target + 1, Duration::from_secs(60));
    net.finish_and_compare(target + 1);
}

#[test]
fn a_two_two_split_finalizes_nothing_and_resumes_without_a_fork_after_healing() {
    let _g = serial();
    let Some(lab) = lab(4) else { return };
    let mut net = setup("2000");
    lab.attach(&mut net);
    net.start_all();
    net.wait_height(&ALL, 2, Duration::from_secs(90));

    lab.partition(&[0, 1]);
    // Votes delivered before the cut may still complete the height in progress; give the
    // nodes a view timeout to process them (a slow machine lags), then no height may finalize
    // anywhere: each half holds two votes of the three a quorum needs.
    std::thread::sleep(Duration::from_secs(2));
    let frozen = max_height(&net, &ALL);
    let views_before: Vec<u64> = ALL
        .iter()
        .map(|&i| net.status(i).and_then(|s| s["view"].as_u64()).unwrap_or(0))
        .collect();
    // Three view timeouts: each half times out and nullifies, but two nullify votes are no
    // quorum either, so not even the view moves.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(6) {
        for i in ALL {
            net.assert_running(i);
            let h = net.height(i);
            assert!(
                h <= frozen,
                "node {i} finalized {h} during a 2|2 cut at {frozen}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let views_during: Vec<u64> = ALL
        .iter()
        .map(|&i| net.status(i).and_then(|s| s["view"].as_u64()).unwrap_or(0))
        .collect();

    lab.heal();
    let healed = Instant::now();
    net.wait_height(&ALL, frozen + 1, Duration::from_secs(120));
    let first = healed.elapsed();
    net.wait_height(&ALL, frozen + 3, Duration::from_secs(120));
    println!(
        "netns: 2|2 cut: heights stayed at {frozen} for 6 s (views {views_before:?} -> \
         {views_during:?}); after healing the first height finalized on every node in {:.2} s, \
         three in {:.2} s",
        first.as_secs_f64(),
        healed.elapsed().as_secs_f64()
    );
    // Every ledger valid (`fedledger audit`) and identical: no fork.
    net.finish_and_compare(frozen + 3);
}

#[test]
fn latency_jitter_and_loss_on_every_link_still_finalize_rounds() {
    let _g = serial();
    let Some(lab) = lab(4) else { return };
    lab.set_all_links(LinkFaults {
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(50),
        loss: 0.02,
        cut: false,
    });
    // A WAN needs a longer view timeout than loopback: a round is several round trips.
    let mut net = setup("4000");
    lab.attach(&mut net);
    net.start_all();
    net.wait_height(&ALL, 1, Duration::from_secs(120));

    // Time whole rounds on node 0: from the first height change seen on, polling every 100 ms.
    let rounds = 8;
    let first = max_height(&net, &[0]);
    wait_until(
        &mut net,
        Duration::from_secs(60),
        "a round under latency and loss",
        |net| net.height(0) > first,
    );
    let start = net.height(0);
    let began = Instant::now();
    let (mut seen, mut last) = (start, began);
    let mut per_round = Vec::new();
    wait_until(
        &mut net,
        Duration::from_secs(30 * rounds),
        "rounds under latency and loss",
        |net| {
            let h = net.height(0);
            if h > seen {
                // Two heights within one poll count as two rounds of half the time each.
                let dt = last.elapsed().as_secs_f64() / (h - seen) as f64;
                per_round.extend(std::iter::repeat_n(dt, (h - seen) as usize));
                seen = h;
                last = Instant::now();
            }
            seen >= start + rounds
        },
    );
    let total = began.elapsed();
    net.wait_height(&ALL, start + rounds, Duration::from_secs(60));
    let (fwd, lost, _, _) = lab.counters.snapshot();
    let view_changes: u64 = ALL
        .iter()
        .map(|&i| metric(&net, i, "fedledger_view_changes_total"))
        .sum();
    per_round.sort_by(|a, b| a.total_cmp(b));
    println!(
        "netns: 100 ms +/- 50 ms, 2% loss: {} rounds in {:.2} s; per round median {:.2} s, \
         max {:.2} s; relay forwarded {fwd} packets, dropped {lost}; {view_changes} view \
         changes on the 4 nodes",
        per_round.len(),
        total.as_secs_f64(),
        per_round[per_round.len() / 2],
        per_round[per_round.len() - 1]
    );
    assert!(lost > 0, "the relay dropped nothing: {:?}", lab.counters);
    net.finish_and_compare(start + rounds);
}

#[test]
fn a_member_restarted_on_a_new_address_is_found_again_and_catches_up() {
    let _g = serial();
    let Some(mut lab) = lab(4) else { return };
    let mut net = setup("2000");
    lab.attach(&mut net);
    net.start_all();
    net.wait_height(&ALL, 2, Duration::from_secs(90));

    let before = net.height(3);
    net.kill9(3);
    let old = lab.addr(3);
    // A new address in its namespace (as after a move to another host or a new DHCP lease);
    // the others keep the old one in their configuration.
    lab.move_node(3, 104, &mut net);
    let down = max_height(&net, &[0, 1, 2]);
    net.wait_height(&[0, 1, 2], down + 2, Duration::from_secs(90));

    net.start(3);
    let restarted = Instant::now();
    let target = max_height(&net, &[0, 1, 2]);
    net.wait_height(&[3], target, Duration::from_secs(90));
    let catch_up = restarted.elapsed();
    // Every other member is connected to it again (at its new address).
    wait_until(
        &mut net,
        Duration::from_secs(60),
        "the others connected to the moved node",
        |net| {
            (0..4).all(|i| {
                net.status(i)
                    .and_then(|s| s["peers"].as_u64())
                    .is_some_and(|p| p >= 3)
            })
        },
    );
    println!(
        "netns: node 3 moved from {old} to {}: caught up from height {} to {target} in {:.2} s \
         ({} packets to the old address dropped)",
        lab.addr(3),
        before,
        catch_up.as_secs_f64(),
        lab.counters.snapshot().3
    );
    net.wait_height(&ALL, target + 1, Duration::from_secs(60));
    net.finish_and_compare(target + 1);
}
