//! Rényi-DP accounting of the Poisson-subsampled Gaussian mechanism, converted to (epsilon, delta).
//!
//! This decides budget validity on the ledger, so every number it produces must be identical on
//! every machine: transcendental functions come from pure-Rust `libm`, every sum runs in a fixed
//! order, and nothing depends on thread count. The method is dp-accounting's `RdpAccountant`:
//! per-step RDP of the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019) at the standard
//! [`ORDERS`], composed additively over steps and rounds, then the Balle et al. 2020 conversion
//! minimised over orders.
//!
//! - [`RdpCurve`]: one RDP value per order; [`RdpCurve::sampled_gaussian`] is one step.
//! - [`Converter`]: epsilon of a curve at a fixed delta (cheap; precomputed per delta).
//! - [`Accountant`]: a member's running spend; [`RdpCache`]: shared per-step curves.
//! - [`epsilon`] and [`calibrate_noise`]: one-shot helpers.
//! - [`plan`]: the DP-SGD settings that reach a target epsilon from public sizes only.

mod accountant;
mod cache;
mod calibrate;
mod convert;
mod orders;
mod plan;
mod rdp;
mod special;

pub use accountant::{epsilon, Accountant};
pub use cache::{RdpCache, DEFAULT_CACHE_CAPACITY};
pub use calibrate::calibrate_noise;
pub use convert::{Converter, EpsilonAt};
pub use orders::{NUM_ORDERS, ORDERS};
pub use plan::{plan, schedule, DpPlan, DpPlanTarget, MAX_EPOCHS, PLAN_BATCH};
pub use rdp::{RdpCurve, MAX_SERIES_TERMS};
