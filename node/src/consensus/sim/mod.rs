//! Deterministic simulation of the consensus protocol.
