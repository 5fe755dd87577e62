"""A PyTorch member: the genesis model as a `torch.nn.Module`, trained with Opacus DP-SGD.

    pip install torch opacus
    fedledger encode --config node.toml --out member.csv
    python -m fedledger.examples.torch_member --node 127.0.0.1:7190 \
        --token-file DATA_DIR/trainer.token --data member.csv

The module is built from the node's layout (`GET /v1/layout`): a chain of linear layers
`NAME.weight [out, in]`, `NAME.bias [out]` with ReLU between them and one logit out. That covers
the built-in logistic regression (`layer0.*`), the built-in MLPs (`testnet --hidden`,
`layer0.*`, `layer1.*`, ...) and tensors layouts such as
`fc1.weight:16x{features},fc1.bias:16,fc2.weight:1x16,fc2.bias:1`. Its `state_dict` has the
layout's names and shapes, so the flat model maps onto it with `fedledger.split` and back with
`fedledger.join`.

Each round `PrivacyEngine.make_private` (Poisson sampling, per-example clipping to C, Gaussian
noise sigma C on the sum, division by the expected batch) trains a fresh copy of the global model
for the round's steps, and `fedledger.OpacusSpend` reads the (q, sigma, steps) that Opacus's
accountant recorded: that is the spend submitted. Opacus samples at 1 / ceil(n / batch); the node
(and a genesis `[dp.plan]`, which validators check bit for bit) at q = batch / n. Where the two
differ the member samples and accounts at the node's q: an Opacus `DPDataLoader` at that rate and
the accountant's hook for that rate. Under a `[dp.plan]` it uses the plan the node gives for its
example count; otherwise --batch, --epochs, --clip and --noise-multiplier.

Randomness is seeded (--seed) for reproducible runs. Opacus warns that its secure RNG is off;
--secure-mode turns it on (needs torchcsprng)."""

import argparse
import json
import sys
import warnings

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.data_loader import DPDataLoader
from torch.utils.data import DataLoader, TensorDataset

from .. import dpsgd
from ..client import Trainer, join, split
from ..member import load
from ..opacus import OpacusSpend


def chain(layout):
    """The linear layers of a layout, [(name, inputs, outputs)], or ValueError saying why not."""
    tensors = layout["tensors"]
    if not tensors or len(tensors) % 2:
        raise ValueError("expected pairs NAME.weight [out, in], NAME.bias [out]")
    layers = []
    for w, b in zip(tensors[0::2], tensors[1::2]):
        name = w["name"][: -len(".weight")]
        if (
            not w["name"].endswith(".weight")
            or b["name"] != name + ".bias"
            or not name
            or "." in name
            or len(w["shape"]) != 2
            or list(b["shape"]) != [w["shape"][0]]
        ):
            raise ValueError(f"{w['name']} {w['shape']}, {b['name']} {b['shape']} is not a linear layer")
        layers.append((name, int(w["shape"][1]), int(w["shape"][0])))
    for (a, _, out), (c, inp, _) in zip(layers, layers[1:]):
        if out != inp:
            raise ValueError(f"{a} has {out} outputs, {c} {inp} inputs")
    if layers[-1][2] != 1:
        raise ValueError(f"{layers[-1][0]} has {layers[-1][2]} outputs; a binary model has one logit")
    return layers


class LayoutNet(torch.nn.Module):
    """Linear layers named as in the layout, ReLU between them, one logit out."""

    def __init__(self, layout):
        super().__init__()
        self.names = []
        for name, inputs, outputs in chain(layout):
            self.add_module(name, torch.nn.Linear(inputs, outputs))
            self.names.append(name)

    def forward(self, x):
        for i, name in enumerate(self.names):
            x = getattr(self, name)(x)
            if i + 1 < len(self.names):
                x = torch.relu(x)
        return x.squeeze(-1)


def state_dict(flat, layout):
    """The flat node model as a PyTorch state_dict (copies, float32)."""
    return {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in split(flat, layout).items()}


def flatten(state, layout):
    """A state_dict as the flat f32 vector in the node's layout."""
    return join({k: v.detach().cpu().numpy() for k, v in state.items()}, layout)


class TorchMember:
    """`fit(parameters, config)` for `Trainer.run`: evaluate the global model on the held-out
    data, train it one round with Opacus, and report the spend Opacus's accountant recorded."""

    def __init__(self, layout, x, y, xt, yt, q, steps, clip, sigma, lr=0.1, momentum=0.9,
                 seed=0, secure_mode=False):
        self.layout = layout
        chain(layout)  # fails early on a layout this member cannot train
        self.x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        self.y = torch.as_tensor(np.asarray(y), dtype=torch.float32)
        self.xt, self.yt = torch.as_tensor(np.asarray(xt), dtype=torch.float32), np.asarray(yt)
        self.q, self.steps, self.clip, self.sigma = float(q), int(steps), float(clip), float(sigma)
        self.lr, self.momentum = lr, momentum
        self.dataset = TensorDataset(self.x, self.y)
        with warnings.catch_warnings():
            if not secure_mode:
                warnings.filterwarnings("ignore", message="Secure RNG turned off")
            self.engine = PrivacyEngine(accountant="rdp", secure_mode=secure_mode)
        self.spend = OpacusSpend(self.engine)
        self.generator = None if secure_mode else torch.Generator().manual_seed(seed)

    def evaluate(self, net):
        with torch.no_grad():
            p = torch.sigmoid(net(self.xt)).double().numpy()
        p = np.clip(p, 1e-7, 1 - 1e-7)
        y = self.yt
        return {"examples": int(len(y)),
                "loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
                "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
                "auc": dpsgd.auc(p, y)}

    def private(self, net):
        """Opacus's DP-SGD pieces for one round, sampling and accounting at the node's q."""
        n = len(self.dataset)
        batch = max(1, int(round(self.q * n)))
        optimizer = torch.optim.SGD(net.parameters(), lr=self.lr, momentum=self.momentum)
        module, optimizer, loader = self.engine.make_private(
            module=net, optimizer=optimizer, data_loader=DataLoader(self.dataset, batch_size=batch),
            noise_multiplier=self.sigma, max_grad_norm=self.clip, poisson_sampling=True,
            noise_generator=self.generator)
        if 1.0 / len(loader) != self.q:
            # Opacus's q is 1 / ceil(n / batch): account at the node's instead (bit for bit).
            optimizer.attach_step_hook(self.engine.accountant.get_optimizer_hook_fn(sample_rate=self.q))
        # Poisson sampling at exactly q (what make_private builds when q = 1 / ceil(n / batch)),
        # drawn from the seeded generator, and the sum divided by the expected batch q n.
        rng = self.engine.secure_rng if self.engine.secure_mode else self.generator
        loader = DPDataLoader(self.dataset, sample_rate=self.q, generator=rng)
        optimizer.expected_batch_size = self.q * n
        return module, optimizer, loader

    def train(self, net):
        """`steps` DP-SGD steps on `net` (in place), each on a fresh Poisson sample."""
        module, optimizer, loader = self.private(net)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        module.train()
        done = 0
        while done < self.steps:
            for xb, yb in loader:
                optimizer.zero_grad(set_to_none=True)
                # An empty sample still takes a step: Opacus adds the noise either way.
                loss = loss_fn(module(xb), yb) if len(yb) else module(xb).sum()
                with warnings.catch_warnings():
                    # Opacus's hooks on the first layer, whose input (the data) needs no gradient.
                    warnings.filterwarnings("ignore", message="Full backward hook is firing")
                    loss.backward()
                optimizer.step()
                done += 1
                if done == self.steps:
                    break
        return net

    def fit(self, params, config):
        net = LayoutNet(self.layout)
        net.load_state_dict(state_dict(params, self.layout))
        metrics = self.evaluate(net)
        self.train(net)
        metrics["dp"] = self.spend.take()
        return flatten(net.state_dict(), self.layout), len(self.dataset), metrics


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
    ap.add_argument("--lr", type=float, default=None,
                    help="SGD learning rate (momentum 0.9) [default: 0.1 for one layer, 0.05 for more]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (the node needs CPU too)")
    ap.add_argument("--secure-mode", action="store_true", help="Opacus secure RNG (needs torchcsprng)")
    ap.add_argument("--timeout", type=float, default=300.0, help="give up waiting for a round after this many seconds")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y, xt, yt = load(a.data, a.holdout, a.seed)
    trainer = Trainer(a.node, token_file=a.token_file)
    layout = trainer.layout()
    try:
        layers = chain(layout)
    except ValueError as e:
        names = [t["name"] for t in layout["tensors"]]
        raise SystemExit(f"this member trains chains of linear layers; the genesis layout {names}: {e}")
    if layers[0][1] != x.shape[1]:
        raise SystemExit(f"{a.data} has {x.shape[1]} features, the layout's first layer {layers[0][1]} inputs")
    plan = trainer.plan(len(y))
    if plan is not None:
        q, steps = plan["sampling_rate"], plan["steps_per_round"]
        clip, sigma = plan["clip_norm"], plan["noise_multiplier"]
    else:
        q, steps = dpsgd.schedule(a.batch, a.epochs, len(y))
        clip, sigma = a.clip, a.noise_multiplier
    lr = a.lr if a.lr is not None else (0.1 if len(layers) == 1 else 0.05)
    member = TorchMember(layout, x, y, xt, yt, q, steps, clip, sigma, lr=lr, seed=a.seed,
                         secure_mode=a.secure_mode)
    trainer.run(member.fit, rounds=a.rounds, timeout=a.timeout,
                on_round=lambda answer: print(json.dumps(answer), flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
