//! Log-space special functions for the accountant: log-erfc, log-binomials and log-add.
//!
//! Everything here uses pure-Rust `libm` so results are bit-identical on every machine.

use std::sync::OnceLock;

/// Largest n whose log-factorial is tabulated (the largest integer order).
const TABLE_MAX: usize = 1024;

/// `ln(n!)` for n in 0..=1024, computed once with `libm::lgamma`.
fn log_factorial_table() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=TABLE_MAX)
            .map(|n| libm::lgamma(n as f64 + 1.0))
            .collect()
    })
}

/// `ln(n!)`: tabulated up to 1024, `lgamma(n + 1)` beyond.
pub(crate) fn log_factorial(n: u64) -> f64 {
    let table = log_factorial_table();
    match usize::try_from(n).ok().and_then(|i| table.get(i)) {
        Some(v) => *v,
        None => libm::lgamma(n as f64 + 1.0),
    }
}

/// `ln C(n, k)` for integers 0 <= k <= n, as `ln n! - ln k! - ln (n-k)!` (log space: C(1024, 512)
/// is about 1e307, near overflow).
pub(crate) fn log_binom_int(n: u64, k: u64) -> f64 {
    log_factorial(n) - log_factorial(k) - log_factorial(n.saturating_sub(k))
}

/// `ln |C(alpha, i)|` for real non-integer `alpha > 0`, as
/// `ln|Gamma(alpha + 1)| - ln i! - ln|Gamma(alpha - i + 1)|` (the last argument is negative once
/// `i > alpha + 1`; `lgamma` gives the log of the magnitude there).
///
/// `lgamma_alpha_plus_1` is `lgamma(alpha + 1)`, hoisted by the caller.
pub(crate) fn log_abs_binom_real(lgamma_alpha_plus_1: f64, alpha: f64, i: u64) -> f64 {
    lgamma_alpha_plus_1 - log_factorial(i) - libm::lgamma(alpha - i as f64 + 1.0)
}

/// Threshold above which `libm::erfc` would head into subnormals (erfc(26) is about 5e-296, still
/// normal) and the asymptotic expansion is accurate to about 3e-16 relative.
const ERFC_ASYMPTOTIC_FROM: f64 = 26.0;

/// `ln erfc(x)`, accurate for all x including large positive x where `erfc` underflows.
///
/// For x > 26 it uses the Laurent series at infinity,
/// `ln erfc(x) = -x^2 - ln x - ln(pi)/2 - 1/(2x^2) + 5/(8x^4) - 37/(24x^6) + 353/(64x^8) + O(x^-10)`;
/// the first omitted term is below 4e-13 absolute there (the value itself is below -679).
pub(crate) fn log_erfc(x: f64) -> f64 {
    if x > ERFC_ASYMPTOTIC_FROM {
        log_erfc_asymptotic(x)
    } else {
        libm::log(libm::erfc(x))
    }
}

/// The Laurent series of `ln erfc(x)` at infinity, to the `x^-8` term.
fn log_erfc_asymptotic(x: f64) -> f64 {
    let x2 = x * x;
    let inv = 1.0 / x2;
    let series = inv * (-0.5 + inv * (0.625 + inv * (-37.0 / 24.0 + inv * (353.0 / 64.0))));
    -HALF_LN_PI - libm::log(x) - x2 + series
}

/// `ln(pi) / 2`.
const HALF_LN_PI: f64 = 0.572_364_942_924_700_1;

/// `ln(e^a + e^b)` without overflow; `-inf` stands for zero.
pub(crate) fn log_add(a: f64, b: f64) -> f64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY || hi == f64::INFINITY {
        return hi;
    }
    libm::log1p(libm::exp(lo - hi)) + hi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn half_ln_pi_constant() {
        assert!(rel(HALF_LN_PI, libm::log(std::f64::consts::PI) / 2.0) < 1e-16);
    }

    #[test]
    fn log_erfc_matches_high_precision_values() {
        // Reference values from mpmath at 40 digits.
        let cases = [
            (-3.0, 0.693_136_135_250_446_8),
            (0.0, 0.0),
            (0.5, -0.735_011_129_837_084_4),
            (5.0, -27.200_889_545_537_436),
            (20.0, -403.569_343_334_104_25),
            (25.9, -674.637_351_895_319_2),
            (26.0, -679.831_199_763_194_3),
            (26.5, -706.100_220_410_148),
            (27.5, -760.137_211_015_348_2),
            (30.0, -903.974_117_110_643_9),
            (100.0, -10_005.177_585_122_665),
            (1e4, -100_000_009.782_705_32),
        ];
        for (x, want) in cases {
            let got = log_erfc(x);
            if want == 0.0 {
                assert_eq!(got, 0.0);
            } else {
                assert!(rel(got, want) < 1e-14, "log_erfc({x}) = {got}, want {want}");
            }
        }
        assert_eq!(log_erfc(f64::INFINITY), f64::NEG_INFINITY);
        assert!((log_erfc(f64::NEG_INFINITY) - std::f64::consts::LN_2).abs() < 1e-16);
    }

    #[test]
    fn both_branches_agree_around_the_switch() {
        // erfc is still a normal number up to about 26.5, so the branches can be compared there.
        for k in 0..=50 {
            let x = 24.0 + f64::from(k) * 0.05;
            let direct = libm::log(libm::erfc(x));
            assert!(rel(log_erfc_asymptotic(x), direct) < 1e-15, "x = {x}");
        }
    }

    #[test]
    fn integer_binomials() {
        assert_eq!(log_binom_int(10, 0), 0.0);
        assert!(rel(libm::exp(log_binom_int(10, 3)), 120.0) < 1e-14);
        assert!(rel(libm::exp(log_binom_int(52, 5)), 2_598_960.0) < 1e-13);
        // C(1024, 512) = 4.48e306: finite only in log space.
        assert!(rel(log_binom_int(1024, 512), 706.090_941_497_353) < 1e-14);
        assert_eq!(log_factorial(2000), libm::lgamma(2001.0));
    }

    #[test]
    fn real_binomial_magnitudes() {
        let alpha: f64 = 2.5;
        let lg = libm::lgamma(alpha + 1.0);
        // C(2.5, i) = 1, 2.5, 1.875, 0.3125, -0.0390625, 0.01171875
        let want: [f64; 6] = [1.0, 2.5, 1.875, 0.3125, -0.039_062_5, 0.011_718_75];
        for (i, w) in want.iter().enumerate() {
            let l = log_abs_binom_real(lg, alpha, i as u64);
            assert!(rel(libm::exp(l), w.abs()) < 1e-13, "C(2.5, {i})");
        }
    }

    #[test]
    fn log_add_in_log_space() {
        let a = libm::log(3.0);
        let b = libm::log(5.0);
        assert!(rel(libm::exp(log_add(a, b)), 8.0) < 1e-15);
        assert_eq!(log_add(f64::NEG_INFINITY, b), b);
        assert_eq!(log_add(a, f64::INFINITY), f64::INFINITY);
        assert_eq!(
            log_add(f64::NEG_INFINITY, f64::NEG_INFINITY),
            f64::NEG_INFINITY
        );
        assert_eq!(log_add(1000.0, 0.0), 1000.0);
    }
}
