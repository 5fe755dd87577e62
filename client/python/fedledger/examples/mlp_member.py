"""Bring your own model: a one-hidden-layer MLP in numpy, trained with DP-SGD against a node
whose genesis declares it as named tensors (`kind = "tensors"`):

    fc1.weight [H, F], fc1.bias [H], fc2.weight [1, H], fc2.bias [1]

    python -m fedledger.examples.mlp_member --node 127.0.0.1:7190 \
        --token-file DATA_DIR/trainer.token --data member.csv

The node knows nothing of this model beyond its layout: it aggregates, records and audits the
flat f32 vector. Parameters are mapped by tensor name (`fedledger.split` / `fedledger.join`), as
a PyTorch `state_dict` would be. Same DP-SGD as `fedledger.dpsgd` (Poisson sampling, per-example
clipping of the whole gradient, Gaussian noise on the sum), with per-example gradient norms
computed in closed form: for the first layer, |dh x^T| = |dh| |x|."""

import argparse
import json
import sys

import numpy as np

from .. import dpsgd
from ..client import Trainer, dp_spend, join, split
from ..member import load


def forward(t, x):
    pre = x @ t["fc1.weight"].T + t["fc1.bias"]
    h = np.maximum(pre, 0.0)
    z = h @ t["fc2.weight"][0] + t["fc2.bias"][0]
    return pre, h, 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def evaluate(t, x, y):
    _, _, p = forward(t, x)
    p = np.clip(p, 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return {"examples": int(len(y)), "loss": loss,
            "accuracy": float(np.mean((p >= 0.5) == (y == 1))), "auc": dpsgd.auc(p, y)}


def train(t, x, y, q, steps, clip, sigma, lr, rng, momentum=0.9):
    t = {k: np.asarray(v, dtype=np.float64).copy() for k, v in t.items()}
    vel = {k: np.zeros_like(v) for k, v in t.items()}
    n = len(y)
    for _ in range(int(steps)):
        b = np.nonzero(rng.random(n) < q)[0]
        xb, yb = x[b], y[b]
        pre, h, p = forward(t, xb)
        err = p - yb
        dh = err[:, None] * t["fc2.weight"][0][None, :] * (pre > 0)
        sq = (err ** 2) * (np.sum(h ** 2, axis=1) + 1.0) + np.sum(dh ** 2, axis=1) * (np.sum(xb ** 2, axis=1) + 1.0)
        c = np.minimum(1.0, clip / np.maximum(np.sqrt(sq), 1e-12))
        g = {
            "fc1.weight": (dh * c[:, None]).T @ xb,
            "fc1.bias": (dh * c[:, None]).sum(axis=0),
            "fc2.weight": ((err * c) @ h)[None, :],
            "fc2.bias": np.array([np.sum(err * c)]),
        }
        for k in t:
            noisy = (g[k] + rng.normal(0.0, sigma * clip, size=t[k].shape)) / (q * n)
            vel[k] = momentum * vel[k] + noisy
            t[k] -= lr * vel[k]
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", default="127.0.0.1:7190")
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--data", required=True, help="CSV from `fedledger encode` (features, then label)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--noise-multiplier", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300.0)
    a = ap.parse_args(argv)

    x, y, xt, yt = load(a.data, a.holdout, a.seed)
    trainer = Trainer(a.node, token_file=a.token_file)
    layout = trainer.layout()
    names = [t["name"] for t in layout["tensors"]]
    if names != ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]:
        raise SystemExit(f"this member trains fc1/fc2 MLPs; the genesis layout is {names}")
    plan = trainer.plan(len(y))
    if plan is not None:
        q, steps, clip, sigma = plan["sampling_rate"], plan["steps_per_round"], plan["clip_norm"], plan["noise_multiplier"]
    else:
        q, steps = dpsgd.schedule(a.batch, a.epochs, len(y))
        clip, sigma = a.clip, a.noise_multiplier
    rng = np.random.default_rng(a.seed + 1)

    def fit(params, config):
        t = split(params, layout)
        metrics = evaluate(t, xt, yt)
        new = train(t, x, y, q, steps, clip, sigma, a.lr, rng)
        metrics["dp"] = dp_spend(q, sigma, steps)
        return join(new, layout), len(y), metrics

    trainer.run(fit, rounds=a.rounds, on_round=lambda ans: print(json.dumps(ans), flush=True), timeout=a.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
