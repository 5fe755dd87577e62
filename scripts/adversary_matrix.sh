#!/usr/bin/env bash
# Every named adversary against an n-node testnet (default 4, one liar), plus a clean run, in
# release: prints round latency, memory and what the honest nodes rejected, one line per run.
#   scripts/adversary_matrix.sh [--nodes 7 --byzantine 2] [--rounds 20] [ADVERSARY ...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p fedledger-client -p fedledger-node
nodes=4; byz=1; rounds=20; names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift 2;;
    --byzantine) byz=$2; shift 2;;
    --rounds) rounds=$2; shift 2;;
    *) names+=("$1"); shift;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(clean nan-metrics huge-metrics off-plan-spend equivocate-update equivocate-proposal
  invalid-proposal withhold-bytes withhold-votes replay vote-flood sync-hijack join-spam fetch-flood)
printf '%-22s %5s %8s %8s %8s %8s  %s\n' adversary exit seconds p50_ms p95_ms rss_mib rejected
for a in "${names[@]}"; do
  args=(--nodes "$nodes" --rounds "$rounds" --epsilon-max 100 --collect-timeout-ms 1000
        --view-timeout-ms 2000 --json)
  [ "$a" = clean ] || args+=(--adversary "$a" --byzantine "$byz")
  # The plan is what an off-plan spend is checked against.
  if [ "$a" = off-plan-spend ]; then args+=(--target-epsilon 50); fi
  set +e
  out=$(target/release/fedledger testnet "${args[@]}" 2>/dev/null); code=$?
  set -e
  echo "$out" | python3 -c '
import json, sys
name, code = sys.argv[1], sys.argv[2]
try:
    s = json.load(sys.stdin)
except Exception:
    print(f"{name:<22} {code:>5}  (no summary)"); sys.exit()
t = s["timing"]
rej = ", ".join(f"{k} {v}" for k, v in s["rejected"].items())
secs, p50, p95, rss = s["seconds"], t["latency_p50_ms"], t["latency_p95_ms"], s["peak_rss_mib"]
print(f"{name:<22} {code:>5} {secs:8.1f} {p50:8.0f} {p95:8.0f} {rss:8.0f}  {rej}")
' "$a" "$code"
done
