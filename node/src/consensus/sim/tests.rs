//! Every scenario over many seeds; determinism; and proof that the checks can fail.

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
