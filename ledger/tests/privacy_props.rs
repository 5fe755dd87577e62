//! Property tests of the privacy accountant: monotonicity, composition, calibration round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::DpSpend;
use fedledger_ledger::privacy::{calibrate_noise, epsilon, Accountant, RdpCurve};
use proptest::prelude::*;

fn sp(q: f64, s: f64, steps: u64) -> DpSpend {
    DpSpend {
        sampling_rate: q,
        noise_multiplier: s,
        steps,
    }
}

fn eps(q: f64, s: f64, steps: u64, delta: f64) -> f64 {
    epsilon(&[sp(q, s, steps)], delta).unwrap().epsilon
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// More steps never cost less: exact, because every step in the conversion is monotone.
    #[test]
    fn monotone_in_steps(
        q in 1e-4f64..1.0,
        s in 0.5f64..10.0,
        a in 1u64..5_000,
        extra in 0u64..5_000,
        delta in prop::sample::select(vec![1e-5, 1e-7, 1e-3]),
    ) {
        let e1 = eps(q, s, a, delta);
        let e2 = eps(q, s, a + extra, delta);
        prop_assert!(e1 <= e2, "{e1} > {e2}");
    }

    /// More noise never costs more. Mathematically exact per order; allow rounding slack.
    #[test]
    fn monotone_decreasing_in_sigma(
        q in 1e-4f64..0.5,
        s in 0.5f64..10.0,
        factor in 1.0f64..3.0,
        steps in 1u64..5_000,
    ) {
        let loud = eps(q, s * factor, steps, 1e-5);
        let quiet = eps(q, s, steps, 1e-5);
        prop_assert!(loud <= quiet * (1.0 + 1e-12) + 1e-15, "sigma {s} -> {quiet}, x{factor} -> {loud}");
        // And per order, on the curves themselves.
        let c_loud = RdpCurve::sampled_gaussian(q, s * factor).unwrap();
        let c_quiet = RdpCurve::sampled_gaussian(q, s).unwrap();
        for (l, h) in c_loud.values().iter().zip(c_quiet.values()) {
            if l.is_finite() && h.is_finite() {
                prop_assert!(*l <= h * (1.0 + 1e-9) + 1e-300, "{l} > {h}");
            }
        }
    }

    /// Two rounds composed in an accountant equal one curve holding both sums, and the same
    /// setting split over two rounds equals it in one round (up to rounding of k*r vs (a+b)*r).
    #[test]
    fn composition_of_rounds(
        q1 in 1e-4f64..1.0, s1 in 0.5f64..10.0, n1 in 0u64..2_000,
        q2 in 1e-4f64..1.0, s2 in 0.5f64..10.0, n2 in 0u64..2_000,
    ) {
        let (r1, r2) = (sp(q1, s1, n1), sp(q2, s2, n2));
        let mut acc = Accountant::new();
        acc.spend(&r1).unwrap();
        acc.spend(&r2).unwrap();
        let mut manual = RdpCurve::zero();
        manual.add_steps(&RdpCurve::sampled_gaussian(q1, s1).unwrap(), n1);
        manual.add_steps(&RdpCurve::sampled_gaussian(q2, s2).unwrap(), n2);
        prop_assert_eq!(acc.curve(), &manual);
        prop_assert_eq!(acc.epsilon(1e-5).unwrap(), epsilon(&[r1, r2], 1e-5).unwrap());

        let split = epsilon(&[sp(q1, s1, n1), sp(q1, s1, n2)], 1e-5).unwrap();
        let whole = epsilon(&[sp(q1, s1, n1 + n2)], 1e-5).unwrap();
        prop_assert!((split.epsilon - whole.epsilon).abs() <= 1e-12 * whole.epsilon.max(1.0));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The calibrated multiplier meets the target, and 1e-4 less noise would not.
    #[test]
    fn calibrate_noise_round_trips(
        q in 1e-3f64..0.2,
        steps_per_round in 1u64..200,
        rounds in 1u64..50,
        target in 0.5f64..8.0,
    ) {
        let delta = 1e-5;
        let sigma = calibrate_noise(q, steps_per_round, rounds, target, delta).unwrap();
        let steps = steps_per_round * rounds;
        prop_assert!(eps(q, sigma, steps, delta) <= target);
        prop_assert!(eps(q, sigma * (1.0 - 1e-4), steps, delta) > target);
    }
}
