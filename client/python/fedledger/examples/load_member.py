"""A synthetic member for load tests of large models: each round it downloads the global model
(as a real trainer would), submits a seeded random delta of the layout's size, and reports
fixed DP-SGD parameters (sampling rate 0.05, noise multiplier 1.0, 20 steps) that the node
accounts for. It trains nothing: it measures what moving and aggregating updates of a given size
costs the nodes.

    python -m fedledger.examples.load_member --node 127.0.0.1:7190 \
        --token-file DATA_DIR/trainer.token --data member.csv

Memory: the model download and one delta (8 bytes per parameter), never a copy of either."""

import argparse
import json
import sys
import time
import zlib

import numpy as np

from ..client import Trainer, TrainerError, dp_spend


def count_rows(path):
    with open(path, encoding="utf-8") as f:
        return max(1, sum(1 for _ in f) - 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", default="127.0.0.1:7190")
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--data", help="CSV whose row count is reported as the example count")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--scale", type=float, default=1e-3, help="standard deviation of the delta")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800.0)
    a = ap.parse_args(argv)

    examples = count_rows(a.data) if a.data else 1000
    trainer = Trainer(a.node, token_file=a.token_file, timeout=600.0)
    params = trainer.layout()["params"]
    rng = np.random.default_rng([a.seed, zlib.crc32(a.token_file.encode())])
    dp = dp_spend(0.05, 1.0, 20)
    last = 0
    while a.rounds is None or last < a.rounds:
        t0 = time.monotonic()
        r, base, model, _ = trainer.wait_round(after=last, timeout=a.timeout)
        got = time.monotonic()
        if model.size != params:
            raise SystemExit(f"the model has {model.size} values, the layout {params}")
        del model
        delta = rng.standard_normal(params, dtype=np.float32)
        delta *= np.float32(a.scale)
        made = time.monotonic()
        metrics = {"examples": examples, "loss": 0.0, "accuracy": 0.0, "auc": 0.0}
        try:
            answer = trainer.submit(r, base, delta, dp, examples, metrics)
        except TrainerError as e:
            if e.status == 409:
                print(f"round {r}: {e.reason}", file=sys.stderr, flush=True)
                last = r
                continue
            raise
        del delta
        done = time.monotonic()
        answer.update(round=r, wait_and_download_s=round(got - t0, 3),
                      make_s=round(made - got, 3), submit_s=round(done - made, 3))
        print(json.dumps(answer), flush=True)
        last = r
    return 0


if __name__ == "__main__":
    sys.exit(main())
