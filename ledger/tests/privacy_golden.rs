//! Golden tests: exact f64 bits of epsilons and SHA-256 of whole curves, so any change in a
//! formula, constant or reduction order (which would split validators) is caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::DpSpend;
use fedledger_ledger::privacy::{epsilon, RdpCurve};
use sha2::{Digest, Sha256};

fn sp(q: f64, s: f64, steps: u64) -> DpSpend {
    DpSpend {
        sampling_rate: q,
        noise_multiplier: s,
        steps,
    }
}

fn curve_hash(q: f64, sigma: f64) -> String {
    let c = RdpCurve::sampled_gaussian(q, sigma).unwrap();
    let mut h = Sha256::new();
    for v in c.values() {
        h.update(v.to_le_bytes());
    }
    hex::encode(h.finalize())
}

#[test]
fn epsilon_bits_are_pinned() {
    let cases: [(&[DpSpend], f64, &str, f64); 4] = [
        (
            &[sp(0.004_266_666_666_666_667, 1.1, 14_063)],
            1e-5,
            "4004c5f355923104",
            8.1,
        ),
        (&[sp(0.01, 1.0, 1000)], 1e-5, "4000cf9940bcb6ce", 7.8),
        (
            &[sp(0.02, 1.2, 50), sp(0.05, 0.9, 20)],
            1e-6,
            "400e982df64ce88b",
            4.8,
        ),
        (&[sp(0.01, 4.0, 10_000)], 1e-5, "3ff0915e080f539c", 17.0),
    ];
    let mut wrong = Vec::new();
    for (rounds, delta, bits, order) in cases {
        let e = epsilon(rounds, delta).unwrap();
        let got = format!("{:016x}", e.epsilon.to_bits());
        if got != bits || e.order != order {
            wrong.push(format!(
                "{rounds:?}: {got} at order {} (pinned {bits} at {order})",
                e.order
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn curve_hashes_are_pinned() {
    let cases = [
        (
            0.004_266_666_666_666_667,
            1.1,
            "bf6bffb856727bc30e23b7b3a61efb53152e8ab7ff8df1470d6f632b50067f22",
        ),
        (
            0.05,
            0.9,
            "5e3a57aad34468372c3248f30af99107349f37b4c98a3f75ae9797309e399a95",
        ),
        // Includes orders whose series hit the cap (+inf).
        (
            0.5,
            1.0,
            "fb2fbfef9782281b801428f67fd0cbe0bbb7438d3099216c721627ac37d20ba4",
        ),
        (
            1.0,
            1.0,
            "fa7b1cf745aced132abf99f7f90d29ccccc948dd7a40d88b64a2b063b393c6d1",
        ),
    ];
    let mut wrong = Vec::new();
    for (q, s, want) in cases {
        let got = curve_hash(q, s);
        if got != want {
            wrong.push(format!("q={q} sigma={s}: {got} (pinned {want})"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
