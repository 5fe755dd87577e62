#!/usr/bin/env python3
"""Time robust aggregation rules in numpy the way Flower and ByzFL compute them.

Same shapes as `cargo bench -p fedledger-node --bench aggregate` (n = 100 updates of dimension
1,000,000, f32, f = 10) so the ratio to fedledger's Rust implementation can be reproduced:

    pip install numpy          # the only dependency
    python3 scripts/bench_numpy_aggregate.py [--updates 100] [--dim 1000000] [--byzantine 10]
                                             [--runs 5] [--json] [--cpu]

--cpu times with the process's CPU time (time.process_time) instead of wall time: the figure to
compare with `FEDLEDGER_BENCH_CPU=1 cargo bench ...` on a machine shared with other work.

What is timed (median of --runs, one process; set OMP_NUM_THREADS=1 / OPENBLAS_NUM_THREADS=1 to
match the Rust single-core figures, since numpy's matmul may use several threads):
  median        np.median(stack, axis=0)                            (Flower, ByzFL)
  trimmed-mean  np.sort(stack, axis=0)[f:n-f].mean(axis=0)           (ByzFL TrMean; Flower uses
                scipy-free partition+sort of the same kind)
  krum          pairwise squared distances as Flower does it: for each update, the norms of its
                differences to all others (np.linalg.norm), then the n-f-2 smallest summed
  krum-gram     the same distances via the Gram identity X X^T (BLAS sgemm), the fastest numpy form
  mean          np.mean(stack, axis=0)
"""

import argparse
import json
import statistics
import sys
import time

try:
    import numpy as np
except ImportError:  # pragma: no cover - message for people running it without numpy
    sys.exit("numpy is required: pip install numpy")


def krum_flower(x, f):
    # Flower's _compute_distances: np.linalg.norm(w_i - w_j) ** 2 for every pair.
    n = x.shape[0]
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            d[i, j] = d[j, i] = np.linalg.norm(x[i] - x[j]) ** 2
    k = n - f - 2
    scores = np.array([np.sort(np.delete(d[i], i))[:k].sum() for i in range(n)])
    return x[int(np.argmin(scores))]


def krum_gram(x, f):
    n = x.shape[0]
    g = x @ x.T
    sq = np.diag(g)
    d = np.maximum(sq[:, None] + sq[None, :] - 2.0 * g, 0.0)
    k = n - f - 2
    scores = np.array([np.sort(np.delete(d[i], i))[:k].sum() for i in range(n)])
    return x[int(np.argmin(scores))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=100)
    ap.add_argument("--dim", type=int, default=1_000_000)
    ap.add_argument("--byzantine", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cpu", action="store_true", help="time CPU seconds of this process, not wall")
    a = ap.parse_args()
    n, d, f = a.updates, a.dim, a.byzantine
    rng = np.random.default_rng(a.seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x[:f] *= -10.0

    rules = {
        "mean": lambda: np.mean(x, axis=0),
        "median": lambda: np.median(x, axis=0),
        "trimmed-mean": lambda: np.sort(x, axis=0)[f : n - f].mean(axis=0),
        "krum": lambda: krum_flower(x, f),
        "krum-gram": lambda: krum_gram(x, f),
    }
    clock = time.process_time if a.cpu else time.perf_counter
    out = []
    for name, fn in rules.items():
        times = []
        for _ in range(a.runs):
            t = clock()
            fn()
            times.append(clock() - t)
        out.append({"rule": name, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)})
    if a.json:
        print(json.dumps({"updates": n, "dim": d, "byzantine": f, "numpy": np.__version__, "timings": out}, indent=1))
    else:
        print(f"numpy {np.__version__}: n={n} dim={d} f={f}, {a.runs} runs, {'CPU' if a.cpu else 'wall'} time")
        print(f"{'rule':<14}{'median s':>10}{'min s':>10}{'max s':>10}")
        for r in out:
            print(f"{r['rule']:<14}{r['median_s']:>10.3f}{r['min_s']:>10.3f}{r['max_s']:>10.3f}")


if __name__ == "__main__":
    main()
