//! Runtime dispatch of the aggregation kernels to the widest vector unit the CPU has, same bits.
//!
//! Kernels are written against [`Lanes`] (explicit 16-lane vectors) or as plain loops over
//! fixed-width lane arrays, so every lane's arithmetic and the order of every sum are fixed by
//! the source. [`run`] compiles a kernel three times, for the baseline, AVX2 and AVX-512
//! (`pulp` proves the CPU has the features, without `unsafe` in this crate), and the variants
//! differ only in instructions: Rust never contracts `a * b + c` into an FMA nor reorders float
//! sums, and the one fused multiply-add a kernel asks for ([`Lanes::fma`]) is rounded once on
//! every backend, so every variant produces identical bits.
//! The golden-hash tests run every path the test machine has; `vector_and_scalar_paths_agree`
//! (in `tests/aggregate_paths.rs`) compares them on inputs full of ties and signed zeros.
//!
//! Every function a kernel calls must be `#[inline(always)]`: code outside the dispatched
//! function is compiled for the baseline CPU.

use super::lanes::{Lanes, Portable};
use std::sync::atomic::{AtomicU8, Ordering};

/// Which compiled variant of the kernels runs. Ordered from narrowest to widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CodePath {
    /// The baseline x86-64 (SSE2) or non-x86 build.
    Baseline,
    /// AVX2 (x86-64-v3).
    Avx2,
    /// AVX-512 F/BW/CD/DQ/VL (x86-64-v4).
    Avx512,
}

impl CodePath {
    /// Every path, narrowest first.
    pub const ALL: [CodePath; 3] = [CodePath::Baseline, CodePath::Avx2, CodePath::Avx512];

    /// Its name in CLI flags and reports (`baseline`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            CodePath::Baseline => "baseline",
            CodePath::Avx2 => "avx2",
            CodePath::Avx512 => "avx512",
        }
    }

    /// Parse a [`CodePath::name`].
    pub fn parse(s: &str) -> Option<CodePath> {
        CodePath::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// A computation to run under [`run`]. Implementations mark `run` `#[inline(always)]`.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;
    /// Run it with the backend's vector operations; `O::PATH` says which variant is executing,
    /// so a kernel can pick the formulation that is fastest there (the result must not depend
    /// on it).
    fn run<O: Lanes>(self, ops: O) -> Self::Output;
}

/// The widest path [`run`] may take, as set by [`limit_path`] (a `CodePath as u8`).
static LIMIT: AtomicU8 = AtomicU8::new(CodePath::Avx512 as u8);

/// Make every later aggregation in this process take at most `path` (the CPU's own limit still
/// applies). For tests that compare the paths and for benchmarks; results are identical.
pub fn limit_path(path: CodePath) {
    LIMIT.store(path as u8, Ordering::SeqCst);
}

/// The widest path this CPU supports.
pub fn cpu_path() -> CodePath {
    cpu_path_impl()
}

/// The path [`run`] will take: the CPU's best, capped by [`limit_path`].
pub fn code_path() -> CodePath {
    let limit = match LIMIT.load(Ordering::SeqCst) {
        0 => CodePath::Baseline,
        1 => CodePath::Avx2,
        _ => CodePath::Avx512,
    };
    cpu_path().min(limit)
}

#[cfg(target_arch = "x86_64")]
fn cpu_path_impl() -> CodePath {
    if pulp::x86::V4::try_new().is_some() {
        CodePath::Avx512
    } else if pulp::x86::V3::try_new().is_some() {
        CodePath::Avx2
    } else {
        CodePath::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_path_impl() -> CodePath {
    CodePath::Baseline
}

/// Run `kernel`, vectorised for the widest unit the CPU has (within [`limit_path`]).
#[cfg(target_arch = "x86_64")]
pub(crate) fn run<K: Kernel>(kernel: K) -> K::Output {
    use pulp::Simd;
    match code_path() {
        CodePath::Avx512 => match pulp::x86::V4::try_new() {
            Some(v4) => Simd::vectorize(v4, Wide(kernel, v4)),
            None => kernel.run(Portable),
        },
        CodePath::Avx2 => match pulp::x86::V3::try_new() {
            Some(v3) => Simd::vectorize(v3, Wide(kernel, v3)),
            None => kernel.run(Portable),
        },
        CodePath::Baseline => kernel.run(Portable),
    }
}

/// Run `kernel` (no wider variants off x86-64).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn run<K: Kernel>(kernel: K) -> K::Output {
    kernel.run(Portable)
}

/// Run a plain loop (one that needs no [`Lanes`] operations) compiled for the widest unit the
/// CPU has, so LLVM can auto-vectorise it there; mark the closure `#[inline(always)]`.
pub(crate) fn run_plain<T>(f: impl FnOnce() -> T) -> T {
    run(Plain(f))
}

/// [`run_plain`]'s kernel.
struct Plain<F>(F);

impl<T, F: FnOnce() -> T> Kernel for Plain<F> {
    type Output = T;

    #[inline(always)]
    fn run<O: Lanes>(self, _ops: O) -> T {
        (self.0)()
    }
}

/// Adapter: pulp calls `with_simd` inside a function compiled with the detected features.
#[cfg(target_arch = "x86_64")]
struct Wide<K, O>(K, O);

#[cfg(target_arch = "x86_64")]
impl<K: Kernel, O: Lanes> pulp::WithSimd for Wide<K, O> {
    type Output = K::Output;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> K::Output {
        self.0.run(self.1)
    }
}
