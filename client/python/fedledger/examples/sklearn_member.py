"""A scikit-learn member: an `SGDClassifier` (logistic loss) as a Flower-style NumPyClient,
run through `FlowerAdapter` against a fedledger node.

    pip install scikit-learn
    fedledger encode --config node.toml --out member.csv
    python -m fedledger.examples.sklearn_member --node 127.0.0.1:7190 \
        --token-file DATA_DIR/trainer.token --data member.csv

scikit-learn's own `partial_fit` clips nothing and adds no noise, so its steps are not
differentially private and the node would have no honest spend to record. The client keeps
scikit-learn's model, evaluation (`roc_auc_score`, `log_loss`, `accuracy_score`) and data split,
and takes its steps with `fedledger.dpsgd` (per-example clipping, Gaussian noise, Poisson
sampling) on the model's `coef_` and `intercept_`. It reports the DP parameters in its fit
metrics, as Flower clients report metrics. Under a genesis `[dp.plan]` it uses the plan the node
gives for its example count."""

import argparse
import json
import sys

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from fedledger import FlowerAdapter, Trainer, dpsgd


class SklearnClient:
    """Flower NumPyClient shape: get_parameters / fit / evaluate, parameters [coef_, intercept_]."""

    def __init__(self, x, y, xt, yt, dp, lr=0.1, seed=0):
        self.x, self.y, self.xt, self.yt = x, y, xt, yt
        self.dp = dp  # (sampling rate, steps, clip, noise multiplier)
        self.lr = lr
        self.rng = np.random.default_rng(seed)
        self.model = SGDClassifier(loss="log_loss")
        # Fixes classes_ and the shapes of coef_ (1, d) and intercept_ (1,).
        self.model.partial_fit(x[:2], y[:2], classes=np.array([0, 1]))
        self.model.coef_[:] = 0.0
        self.model.intercept_[:] = 0.0

    def get_parameters(self, config):
        return [self.model.coef_.astype(np.float32), self.model.intercept_.astype(np.float32)]

    def set_parameters(self, parameters):
        self.model.coef_ = np.asarray(parameters[0], dtype=np.float64).reshape(1, -1)
        self.model.intercept_ = np.asarray(parameters[1], dtype=np.float64).reshape(1)

    def fit(self, parameters, config):
        self.set_parameters(parameters)
        q, steps, clip, sigma = self.dp
        flat = np.concatenate([self.model.coef_.ravel(), self.model.intercept_])
        new = dpsgd.train(flat, self.x, self.y, q, steps, clip, sigma, lr=self.lr, rng=self.rng)
        self.set_parameters([new[:-1], new[-1:]])
        metrics = {"sampling_rate": q, "noise_multiplier": sigma, "steps": steps}
        return self.get_parameters(config={}), len(self.y), metrics

    def evaluate(self, parameters, config):
        self.set_parameters(parameters)
        p = self.model.predict_proba(self.xt)[:, 1]
        auc = roc_auc_score(self.yt, p) if len(set(self.yt)) == 2 else 0.5
        metrics = {"accuracy": accuracy_score(self.yt, p >= 0.5), "auc": auc}
        return log_loss(self.yt, p, labels=[0, 1]), len(self.yt), metrics


def client_for(trainer, path, batch=64, epochs=1, clip=1.0, sigma=1.0, seed=0):
    """Load `path` (from `fedledger encode`) and build the client on the node's plan if any."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    x, y = data[:, :-1], data[:, -1].astype(np.int64)
    x, xt, y, yt = train_test_split(x, y, test_size=0.2, random_state=seed)
    plan = trainer.plan(len(y))
    if plan is not None:
        dp = (plan["sampling_rate"], plan["steps_per_round"], plan["clip_norm"], plan["noise_multiplier"])
    else:
        q, steps = dpsgd.schedule(batch, epochs, len(y))
        dp = (q, steps, clip, sigma)
    return SklearnClient(x, y, xt, yt, dp, seed=seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", default="127.0.0.1:7190")
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    trainer = Trainer(a.node, token_file=a.token_file)
    adapter = FlowerAdapter(client_for(trainer, a.data, seed=a.seed))
    trainer.run(adapter.fit, rounds=a.rounds, timeout=300, on_round=lambda x: print(json.dumps(x), flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
