"""A complete Python member: DP-SGD logistic regression on a CSV from `fedledger encode`.

    python -m fedledger.member --node 127.0.0.1:7190 --token-file DATA_DIR/trainer.token \
        --data member.csv [--rounds 20]

Under a genesis `[dp.plan]` it trains on the plan the node gives for its example count (the node
refuses any other spend); otherwise on --batch, --epochs, --clip and --noise-multiplier. Prints
one JSON line per accepted round: {round, update_hash, epsilon_after, dp}."""

import argparse
import json
import sys

import numpy as np

from . import dpsgd
from .client import Trainer, dp_spend


def load(path, holdout, seed):
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    x, y = data[:, :-1], data[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = max(1, int(round(len(y) * holdout)))
    test, train = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", default="127.0.0.1:7190", help="the node's trainer API address")
    ap.add_argument("--token-file", required=True, help="DATA_DIR/trainer.token of the node")
    ap.add_argument("--data", required=True, help="CSV from `fedledger encode` (features, then label)")
    ap.add_argument("--rounds", type=int, default=None, help="stop after this round")
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--noise-multiplier", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300.0, help="give up waiting for a round after this many seconds")
    a = ap.parse_args(argv)

    x, y, xt, yt = load(a.data, a.holdout, a.seed)
    trainer = Trainer(a.node, token_file=a.token_file)
    plan = trainer.plan(len(y))
    if plan is not None:
        q, steps = plan["sampling_rate"], plan["steps_per_round"]
        clip, sigma = plan["clip_norm"], plan["noise_multiplier"]
    else:
        q, steps = dpsgd.schedule(a.batch, a.epochs, len(y))
        clip, sigma = a.clip, a.noise_multiplier
    rng = np.random.default_rng(a.seed + 1)

    def fit(params, config):
        metrics = dpsgd.evaluate(params, xt, yt)
        new = dpsgd.train(params, x, y, q, steps, clip, sigma, lr=a.lr, rng=rng)
        metrics["dp"] = dp_spend(q, sigma, steps)
        return new, len(y), metrics

    def report(answer):
        print(json.dumps(answer), flush=True)

    trainer.run(fit, rounds=a.rounds, on_round=report, timeout=a.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
