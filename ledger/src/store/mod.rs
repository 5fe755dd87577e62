//! Ledger storage behind a narrow trait; sled is the engine.
