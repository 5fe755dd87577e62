"""DP-SGD for logistic regression in numpy: the node's own algorithm (Poisson sampling, per-example
clipping, Gaussian noise on the sum, division by the expected batch), for a Python member.

The flat parameter layout is the node's: weights (one per feature) then the bias."""

import math

import numpy as np


def schedule(batch, epochs, examples):
    """(sampling rate q, steps) of a round: q = min(1, batch / n), steps = ceil(epochs / q)."""
    n = max(int(examples), 1)
    q = min(1.0, max(int(batch), 1) / n)
    return q, max(1, math.ceil(epochs / q))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def predict(params, x):
    """P(label = 1) for each row of x."""
    params = np.asarray(params, dtype=np.float64)
    return _sigmoid(x @ params[:-1] + params[-1])


def auc(scores, labels):
    """ROC AUC by the rank-sum statistic, ties averaged (0.5 when one class is absent)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    pos, neg = int(np.sum(labels == 1)), int(np.sum(labels != 1))
    if pos == 0 or neg == 0:
        return 0.5
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def evaluate(params, x, y):
    """The metrics a member reports about the global model on its held-out data."""
    p = np.clip(predict(params, x), 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    return {"examples": int(len(y)), "loss": loss, "accuracy": accuracy, "auc": auc(p, y)}


def train(params, x, y, sampling_rate, steps, clip, noise_multiplier, lr=0.1, momentum=0.9, rng=None):
    """One round of DP-SGD from `params`; returns the new parameters. Every step samples each
    example with probability q, clips each example's gradient to L2 norm `clip`, adds
    N(0, (noise_multiplier * clip)^2) to every coordinate of the sum, and divides by q n."""
    rng = rng or np.random.default_rng()
    w = np.asarray(params, dtype=np.float64).copy()
    v = np.zeros_like(w)
    n = len(y)
    xb = np.hstack([x, np.ones((n, 1))])
    expected = sampling_rate * n
    for _ in range(int(steps)):
        batch = np.nonzero(rng.random(n) < sampling_rate)[0]
        g = np.zeros_like(w)
        if len(batch):
            err = _sigmoid(xb[batch] @ w) - y[batch]
            per_example = err[:, None] * xb[batch]
            norms = np.linalg.norm(per_example, axis=1)
            per_example *= np.minimum(1.0, clip / np.maximum(norms, 1e-12))[:, None]
            g = per_example.sum(axis=0)
        # Noise even on an empty batch: skipping it would reveal the batch was empty.
        g += rng.normal(0.0, noise_multiplier * clip, size=w.shape)
        g /= expected
        v = momentum * v + g
        w -= lr * v
    return w.astype(np.float32)
