#!/usr/bin/env bash
# One command: simulate an 8-organization federation on built-in synthetic customer data with
# differential privacy and two attackers under Krum, write the signed ledger it produces, audit it
# offline from the genesis alone, write the HTML audit report, export it, show that a flipped byte
# is caught, and prove and verify one entry.
#
# Usage: scripts/demo.sh [--keep] [extra `fedledger simulate` options]
# Not a networked testnet: nodes do not run as processes yet (see README, Status).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
if [[ "${1:-}" == "--keep" ]]; then keep=1; shift; fi

echo "== building release binaries (first build takes a few minutes)"
cargo build --release -q -p fedledger-client
F=./target/release/fedledger
out=$(mktemp -d "${TMPDIR:-/tmp}/fedledger-demo.XXXXXX")
cleanup() { if [[ $keep == 0 ]]; then rm -rf "$out"; else echo "kept $out"; fi; }
trap cleanup EXIT

echo "== simulating 8 organizations, 10 rounds, Krum, 2 sign-flip attackers, epsilon <= 3"
$F simulate --orgs 8 --rounds 10 --rule krum --byzantine 2 --attack sign-flip \
   --target-epsilon 3 --delta 1e-5 --seed 7 --ledger-out "$out/ledger" "$@"

echo; echo "== auditing the ledger offline against its genesis"
$F audit --genesis "$out/ledger/genesis.toml" --data-dir "$out/ledger"

echo; echo "== writing the audit report (HTML with charts; keep it with --keep)"
$F report --genesis "$out/ledger/genesis.toml" --data-dir "$out/ledger" --out "$out/report.html"
echo "report: $out/report.html"

echo; echo "== exporting it to one file and auditing the file"
$F export --data-dir "$out/ledger" --out "$out/ledger.fedledger"
$F audit --genesis "$out/ledger/genesis.toml" --file "$out/ledger.fedledger" --json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("valid:", r["valid"], "rounds:", r["report"]["height"], "exclusions:", r["report"]["exclusions"])' 2>/dev/null \
  || $F audit --genesis "$out/ledger/genesis.toml" --file "$out/ledger.fedledger" >/dev/null

echo; echo "== tampering with one byte of the export: the audit must fail"
cp "$out/ledger.fedledger" "$out/tampered.fedledger"
size=$(wc -c < "$out/tampered.fedledger")
printf '\x00' | dd of="$out/tampered.fedledger" bs=1 seek=$((size / 2)) conv=notrunc status=none
if $F audit --genesis "$out/ledger/genesis.toml" --file "$out/tampered.fedledger"; then
  echo "ERROR: a tampered ledger passed the audit"; exit 1
fi

echo; echo "== proving that one update of the last round is in the ledger, then verifying the proof"
update=$($F block --data-dir "$out/ledger" --height 10 --json | sed -n 's/.*"update_hash": "\([0-9a-f]\{64\}\)".*/\1/p' | head -n 1)
$F proof --genesis "$out/ledger/genesis.toml" --data-dir "$out/ledger" --entry "$update" --out "$out/proof.json"
$F verify-proof --proof "$out/proof.json" --genesis "$out/ledger/genesis.toml"

echo; echo "demo finished: the ledger verified offline, tampering was caught, the proof holds"
