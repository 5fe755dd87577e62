#!/usr/bin/env bash
# Run a local fedledger testnet: builds the release binaries if needed, then
# `fedledger testnet` starts N nodes on 127.0.0.1, shows live progress, and at the end exports,
# audits and compares every node's ledger. All arguments are passed through, e.g.
#   scripts/testnet.sh --nodes 5 --rule krum --byzantine 1 --attack sign-flip
# See `target/release/fedledger testnet --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "testnet.sh: cargo not found; install Rust from https://rustup.rs" >&2
  exit 2
fi
echo "building release binaries (first time: a few minutes)..." >&2
cargo build --release --locked -q -p fedledger-client -p fedledger-node
exec target/release/fedledger testnet "$@"
