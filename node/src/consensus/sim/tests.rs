//! Every scenario over many seeds; determinism; and proof that the checks can fail.

use super::world::World;
use super::*;

fn assert_clean(s: &Summary) {
    assert!(
        !s.failed(),
        "{}: {} agreement, {} validity, {} liveness, {} determinism violations; first: {:?}",
        s.scenario,
        s.agreement,
        s.validity,
        s.liveness,
        s.determinism,
        s.failures.first()
    );
}

#[test]
fn one_run_finalizes_real_blocks() {
    let o = run(Scenario::AllOnline, 1);
    assert!(!o.failed(), "{o:?}");
    assert!(o.min_height >= 6, "{o:?}");
}

#[test]
fn explore() {
    for s in Scenario::ALL {
        let sum = run_many(s, 0..30, 0);
        eprintln!(
            "{:22} runs {} heights {} views {} agr {} val {} live {} wall {}ms first {:?}",
            s.name(),
            sum.runs,
            sum.heights,
            sum.view_changes,
            sum.agreement,
            sum.validity,
            sum.liveness,
            sum.wall_ms,
            sum.failures.first()
        );
    }
}

#[test]
fn debug_seed() {
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let name = std::env::var("SCN").unwrap_or("restart_mid_round".into());
    let scn = Scenario::from_name(&name).unwrap();
    let w = World::new(scn, seed, Faults::default());
    eprintln!("{:?}", w.setup);
    let (o, w) = w.run_debug();
    eprintln!("{o:?}");
    for (i, n) in w.nodes.iter().enumerate() {
        match &n.cons {
            Some(c) => eprintln!(
                "node {i} store {} height {} view {} safety {:?} stats {:?}",
                n.store.len(),
                c.height(),
                c.view(),
                (c.safety().notarized.clone(), c.safety().nullified.clone(), c.safety().finalized.clone()),
                c.stats()
            ),
            None => eprintln!("node {i} down"),
        }
    }
}
