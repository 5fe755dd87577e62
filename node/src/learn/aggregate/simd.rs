//! Runtime dispatch of the aggregation kernels to the widest vector unit the CPU has, same bits.
//!
//! Kernels are plain loops over fixed-width lane arrays, so every lane's arithmetic and the
//! order of every sum are fixed by the source. [`run`] compiles a kernel a second time with
//! AVX2 enabled (`pulp` picks the variant at runtime, without `unsafe` in this crate) and LLVM
//! only packs more lanes into each instruction: Rust never contracts `a * b + c` into an FMA or
//! reorders float sums, so both variants produce identical bits. The golden-hash tests run the
//! path the test machine has; `vector_and_scalar_paths_agree` (in `tests/aggregate_paths.rs`)
//! runs both on the same inputs.
//!
//! Every function a kernel calls must be `#[inline(always)]`: code outside the dispatched
//! function is compiled for the baseline CPU.

use std::sync::atomic::{AtomicBool, Ordering};

/// A computation to run under [`run`]. Implementations mark `run` `#[inline(always)]`.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;
    /// Run it; `wide` says whether the AVX2 variant is executing, so a kernel can pick the
    /// formulation that is fastest there (the result must not depend on it).
    fn run(self, wide: bool) -> Self::Output;
}

/// Set by [`force_scalar`]; read on every dispatch.
static FORCE_SCALAR: AtomicBool = AtomicBool::new(false);

/// Make every later aggregation in this process take the baseline (non-AVX2) path, or undo it.
/// For tests that compare both paths and for benchmarks; results are identical either way.
pub fn force_scalar(on: bool) {
    FORCE_SCALAR.store(on, Ordering::SeqCst);
}

/// Whether the AVX2 variant will run (the CPU has it and [`force_scalar`] is off).
pub fn vector_path() -> bool {
    !FORCE_SCALAR.load(Ordering::SeqCst) && wide_cpu()
}

#[cfg(target_arch = "x86_64")]
fn wide_cpu() -> bool {
    matches!(pulp::Arch::new(), pulp::Arch::V3(_))
}

#[cfg(not(target_arch = "x86_64"))]
fn wide_cpu() -> bool {
    false
}

/// Run `kernel`, vectorised for AVX2 when the CPU has it.
pub(crate) fn run<K: Kernel>(kernel: K) -> K::Output {
    if vector_path() {
        pulp::Arch::new().dispatch(Wide(kernel))
    } else {
        kernel.run(false)
    }
}

/// Adapter: pulp calls `with_simd` inside a function compiled with the detected features.
struct Wide<K>(K);

impl<K: Kernel> pulp::WithSimd for Wide<K> {
    type Output = K::Output;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> K::Output {
        self.0.run(true)
    }
}
