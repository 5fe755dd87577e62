//! The CI short run of the decoder fuzz driver: every target for a few thousand cases with a
//! fixed seed. The long runs (millions of cases) are `fedledger-fuzz` outside CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_tests::fuzz::{self, alloc::CountingAlloc, RunConfig};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Cases per target: the slow targets (full audit, proofs, catch-up checks verify signatures)
/// get fewer so the whole run stays well under 30 s on 2 cores.
fn cases(name: &str) -> u64 {
    match name {
        "export-audit" | "sync-blocks" | "proof" | "key-file" => 4000,
        _ => 20_000,
    }
}

#[test]
fn every_decoder_survives_a_short_fuzz_run() {
    let dir = std::env::temp_dir().join("fedledger-fuzz-ci-crashes");
    let t0 = Instant::now();
    let mut failures = Vec::new();
    for t in fuzz::targets::ALL {
        let mut cfg = RunConfig::new(cases(t.name), 0x5eed, 1, dir.clone());
        // The test profile is less optimised than release: only a pathological case is slow.
        cfg.slow = Duration::from_secs(5);
        let r = fuzz::run_target(t, &cfg, Duration::from_secs(3600), &mut |_, _| {});
        eprintln!(
            "{:<18} {:>5} cases {:>5} accepted {:>6.2} s",
            r.target, r.cases, r.accepted, r.seconds
        );
        assert_eq!(r.cases, cases(t.name), "{} stopped early", t.name);
        failures.extend(r.failures);
    }
    eprintln!("all targets in {:.1} s", t0.elapsed().as_secs_f64());
    assert!(
        failures.is_empty(),
        "fuzz failures (replay with `fedledger-fuzz --target NAME --reproduce FILE`):\n{}",
        failures
            .iter()
            .map(|f| format!("  {}: {} -> {}", f.target, f.kind, f.file.display()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_seed_is_accepted_and_round_trips() {
    // A target whose seeds fail only ever fuzzes its error paths.
    for t in fuzz::targets::ALL {
        let seeds = (t.seeds)();
        assert!(!seeds.is_empty(), "{} has no seeds", t.name);
        for (i, s) in seeds.iter().enumerate() {
            let r = fuzz::run_case(t, s);
            assert_eq!(
                r.outcome,
                Ok(fuzz::Outcome::Accepted),
                "{} seed {i} is not accepted",
                t.name
            );
        }
    }
}
