//! Rényi-DP accounting of the Poisson-subsampled Gaussian mechanism (placeholder API, being built).
