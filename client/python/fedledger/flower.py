"""Run an existing Flower `NumPyClient` unchanged against a fedledger node.

Flower's client API is `get_parameters(config) -> list of arrays`, `fit(parameters, config) ->
(parameters, num_examples, metrics)` and `evaluate(parameters, config) -> (loss, num_examples,
metrics)`. The node's model is one flat f32 vector in the genesis layout; the adapter splits it
into the client's arrays (in the order `get_parameters` returns them, each row-major) and joins
them back. Flower clients do not report DP parameters, so the adapter takes them from the fit
metrics (`sampling_rate`, `noise_multiplier`, `steps`, as an Opacus-based client can report) or
from `dp`, a function returning them after each fit (e.g. `OpacusSpend.take`)."""

import numpy as np

from .client import dp_spend


class FlowerAdapter:
    """Wrap `client` (a Flower NumPyClient, duck-typed: flwr is not needed)."""

    def __init__(self, client, dp=None):
        self.client = client
        self.dp = dp
        self.shapes = [np.shape(p) for p in client.get_parameters(config={})]
        self.size = sum(int(np.prod(s)) for s in self.shapes)

    def split(self, flat):
        """The flat node model as the client's list of arrays."""
        flat = np.asarray(flat, dtype=np.float32)
        if flat.size != self.size:
            raise ValueError(
                f"the node's model has {flat.size} parameters, the Flower client's {self.size}: "
                "the client's model must have the genesis layout"
            )
        out, at = [], 0
        for s in self.shapes:
            n = int(np.prod(s))
            out.append(flat[at : at + n].reshape(s).copy())
            at += n
        return out

    def join(self, arrays):
        """The client's arrays as one flat f32 vector."""
        return np.concatenate([np.asarray(a, dtype=np.float32).ravel() for a in arrays])

    def fit(self, params, config):
        """`Trainer.run`'s fit: evaluate the global model, fit, and report both to the node."""
        arrays = self.split(params)
        loss, n_eval, eval_metrics = self.client.evaluate(arrays, dict(config))
        new, n, fit_metrics = self.client.fit(arrays, dict(config))
        if self.dp is not None:
            dp = self.dp()
        else:
            dp = dp_spend(fit_metrics["sampling_rate"], fit_metrics["noise_multiplier"], fit_metrics["steps"])
        metrics = {
            "examples": int(n_eval),
            "loss": float(loss),
            "accuracy": float(eval_metrics.get("accuracy", 0.0)),
            "auc": float(eval_metrics.get("auc", 0.0)),
            "dp": dp,
        }
        return self.join(new), n, metrics
