"""Tests of the Python package against an in-process stand-in of the node's trainer API (the
real node is exercised by the Rust end-to-end test `tests/tests/trainer_api.rs`)."""

import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from fedledger import FlowerAdapter, OpacusSpend, Trainer, TrainerError, dp_spend, join, split
from fedledger import dpsgd

TOKEN = "a" * 64
PARAMS = 5  # 4 features + bias


class FakeNode:
    """Offers rounds 1..=3 from a fixed model and records submissions, checking what the node checks."""

    def __init__(self):
        self.round = 1
        self.model = np.linspace(-0.2, 0.2, PARAMS).astype(np.float32)
        self.submissions = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, headers=None):
                if isinstance(body, bytes):
                    data = body
                else:
                    data = (json.dumps(body) if not isinstance(body, str) else body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def authorized(self):
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.reply(401, "needs Authorization: Bearer <token>")
                    return False
                return True

            def do_GET(self):
                if not self.authorized():
                    return
                offer = {"open": node.round <= 3, "round": node.round, "base_model": f"m{node.round}",
                         "params": PARAMS, "epsilon_spent": 0.0, "epsilon_max": 10.0, "delta": 1e-5}
                if self.path == "/v1/round":
                    self.reply(200, offer)
                elif self.path == "/v1/model" and "octet-stream" in self.headers.get("Accept", ""):
                    self.reply(200, node.model.astype("<f4").tobytes(), {
                        "Content-Type": "application/octet-stream",
                        "X-Fedledger-Round": str(node.round),
                        "X-Fedledger-Base-Model": f"m{node.round}"})
                elif self.path == "/v1/model":
                    self.reply(200, {"round": node.round, "base_model": f"m{node.round}",
                                     "params": node.model.tolist()})
                elif self.path == "/v1/layout":
                    self.reply(200, {"params": PARAMS, "tensors": [
                        {"name": "layer0.weight", "shape": [1, PARAMS - 1], "offset": 0},
                        {"name": "layer0.bias", "shape": [1], "offset": PARAMS - 1}]})
                elif self.path.startswith("/v1/plan"):
                    self.reply(404, "no plan")
                else:
                    self.reply(404, "no such route")

            def do_POST(self):
                if not self.authorized():
                    return
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Type") == "application/octet-stream":
                    body = json.loads(self.headers["X-Fedledger-Submission"])
                    body["delta"] = np.frombuffer(raw, dtype="<f4").tolist()
                else:
                    body = json.loads(raw)
                if len(body["delta"]) != PARAMS:
                    return self.reply(400, "delta: wrong shape")
                if body["round"] != node.round:
                    return self.reply(409, "not open")
                node.submissions.append(body)
                node.round += 1
                self.reply(200, {"update_hash": "h", "epsilon_after": 0.1 * len(node.submissions)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, PARAMS - 1))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    return x, y


class TrainerTests(unittest.TestCase):
    def setUp(self):
        self.node = FakeNode()

    def tearDown(self):
        self.node.close()

    def test_run_submits_one_delta_per_round_with_its_dp_parameters(self):
        x, y = data()
        t = Trainer(self.node.addr, token=TOKEN)
        q, steps = dpsgd.schedule(64, 1, len(y))

        def fit(params, config):
            metrics = dpsgd.evaluate(params, x, y)
            metrics["dp"] = dp_spend(q, 1.0, steps)
            return dpsgd.train(params, x, y, q, steps, 1.0, 1.0, rng=np.random.default_rng(1)), len(y), metrics

        accepted = t.run(fit, rounds=3, timeout=10)
        self.assertEqual([a["round"] for a in accepted], [1, 2, 3])
        for s in self.node.submissions:
            self.assertEqual(len(s["delta"]), PARAMS)
            self.assertEqual(s["dp"], {"sampling_rate": q, "noise_multiplier": 1.0, "steps": steps})
            self.assertEqual(s["num_examples"], len(y))
            self.assertTrue(0.0 <= s["metrics"]["auc"] <= 1.0)

    def test_the_layout_splits_and_joins_the_flat_model(self):
        t = Trainer(self.node.addr, token=TOKEN)
        layout = t.layout()
        _, _, flat = t.model()
        np.testing.assert_array_equal(flat, self.node.model)
        named = split(flat, layout)
        self.assertEqual(named["layer0.weight"].shape, (1, PARAMS - 1))
        self.assertEqual(float(named["layer0.bias"][0]), float(flat[-1]))
        np.testing.assert_array_equal(join(named, layout), flat)
        named["layer0.bias"] = np.zeros(2)
        with self.assertRaises(ValueError):
            join(named, layout)
        with self.assertRaises(ValueError):
            split(flat[1:], layout)

    def test_a_wrong_token_and_a_non_finite_update_are_refused(self):
        with self.assertRaises(TrainerError) as e:
            Trainer(self.node.addr, token="b" * 64).round()
        self.assertEqual(e.exception.status, 401)
        t = Trainer(self.node.addr, token=TOKEN)
        bad = np.zeros(PARAMS)
        bad[2] = np.nan
        with self.assertRaises(ValueError):
            t.submit(1, "m1", bad, dp_spend(0.1, 1.0, 10), 100, {})
        with self.assertRaises(TrainerError) as e:
            t.submit(1, "m1", np.zeros(PARAMS - 1), dp_spend(0.1, 1.0, 10), 100, {})
        self.assertEqual(e.exception.status, 400)
        self.assertIsNone(t.plan(100))
        self.assertEqual(self.node.submissions, [])


class RestartTests(unittest.TestCase):
    def test_a_new_token_after_a_node_restart_is_read_again(self):
        import os
        import tempfile

        node = FakeNode()
        try:
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "trainer.token")
                with open(path, "w") as f:
                    f.write("c" * 64)  # the token of the previous start
                t = Trainer(node.addr, token_file=path)
                with self.assertRaises(TrainerError):
                    t.round()  # still the old token on disk: refused
                with open(path, "w") as f:
                    f.write(TOKEN + "\n")  # the node restarted and wrote a new one
                self.assertTrue(t.round()["open"])
        finally:
            node.close()

    def test_an_unreachable_node_is_waited_for(self):
        t = Trainer("127.0.0.1:9", token=TOKEN, timeout=0.2)
        with self.assertRaises(TimeoutError):
            t.wait_round(timeout=0.5)


class QuickstartClient:
    """A Flower quickstart-style NumPyClient (logistic regression in numpy), used unchanged."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.coef = np.zeros((1, x.shape[1]), dtype=np.float32)
        self.intercept = np.zeros((1,), dtype=np.float32)

    def get_parameters(self, config):
        return [self.coef, self.intercept]

    def set_parameters(self, parameters):
        self.coef, self.intercept = parameters

    def fit(self, parameters, config):
        self.set_parameters(parameters)
        flat = np.concatenate([self.coef.ravel(), self.intercept])
        new = dpsgd.train(flat, self.x, self.y, 0.25, 8, 1.0, 0.8, rng=np.random.default_rng(3))
        self.coef, self.intercept = new[:-1].reshape(1, -1), new[-1:]
        return self.get_parameters(config={}), len(self.y), {"sampling_rate": 0.25, "noise_multiplier": 0.8, "steps": 8}

    def evaluate(self, parameters, config):
        self.set_parameters(parameters)
        flat = np.concatenate([self.coef.ravel(), self.intercept])
        m = dpsgd.evaluate(flat, self.x, self.y)
        return m["loss"], m["examples"], {"accuracy": m["accuracy"], "auc": m["auc"]}


class FlowerTests(unittest.TestCase):
    def test_a_numpy_client_runs_unchanged_through_the_adapter(self):
        node = FakeNode()
        try:
            x, y = data()
            adapter = FlowerAdapter(QuickstartClient(x, y))
            self.assertEqual(adapter.shapes, [(1, PARAMS - 1), (1,)])
            Trainer(node.addr, token=TOKEN).run(adapter.fit, rounds=2, timeout=10)
            self.assertEqual(len(node.submissions), 2)
            s = node.submissions[0]
            self.assertEqual(s["dp"], {"sampling_rate": 0.25, "noise_multiplier": 0.8, "steps": 8})
            # The adapter sends new parameters minus the global model, in the genesis layout.
            self.assertGreater(np.abs(np.array(s["delta"])).sum(), 0.0)
            with self.assertRaises(ValueError):
                adapter.split(np.zeros(PARAMS + 1))
        finally:
            node.close()


class SklearnExampleTests(unittest.TestCase):
    def test_the_sklearn_member_submits_dp_updates_through_the_adapter(self):
        try:
            from fedledger.examples.sklearn_member import SklearnClient
        except ImportError:
            self.skipTest("scikit-learn is not installed")
        node = FakeNode()
        try:
            x, y = data(300)
            client = SklearnClient(x[:240], y[:240], x[240:], y[240:], (0.25, 8, 1.0, 1.1))
            Trainer(node.addr, token=TOKEN).run(FlowerAdapter(client).fit, rounds=2, timeout=10)
            self.assertEqual(len(node.submissions), 2)
            s = node.submissions[1]
            self.assertEqual(s["dp"], {"sampling_rate": 0.25, "noise_multiplier": 1.1, "steps": 8})
            self.assertEqual(s["num_examples"], 240)
            self.assertTrue(0.0 <= s["metrics"]["auc"] <= 1.0)
            # Label = sign of feature 0: DP-SGD moves its weight up.
            self.assertGreater(s["delta"][0], 0.0)
        finally:
            node.close()


class TorchExampleTests(unittest.TestCase):
    """`fedledger.examples.torch_member`: runs only where torch and opacus are installed."""

    @classmethod
    def setUpClass(cls):
        try:
            import opacus  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("torch and opacus are not installed (CI does not install them)")
        from fedledger.examples import torch_member

        cls.tm = torch_member

    LOGISTIC = {"params": PARAMS, "tensors": [
        {"name": "layer0.weight", "shape": [1, PARAMS - 1], "offset": 0},
        {"name": "layer0.bias", "shape": [1], "offset": PARAMS - 1}]}
    MLP = {"params": 3 * 4 + 3 + 3 + 1, "tensors": [
        {"name": "fc1.weight", "shape": [3, 4], "offset": 0},
        {"name": "fc1.bias", "shape": [3], "offset": 12},
        {"name": "fc2.weight", "shape": [1, 3], "offset": 15},
        {"name": "fc2.bias", "shape": [1], "offset": 18}]}

    def member(self, layout, q, steps, sigma, n=240, **kw):
        x, y = data(n + 60)
        return self.tm.TorchMember(layout, x[:n], y[:n], x[n:], y[n:], q, steps, 1.0, sigma, seed=3, **kw)

    def test_a_state_dict_maps_onto_the_layout_and_back(self):
        for layout in (self.LOGISTIC, self.MLP):
            flat = np.random.default_rng(5).normal(size=layout["params"]).astype(np.float32)
            net = self.tm.LayoutNet(layout)
            shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
            self.assertEqual(shapes, {t["name"]: t["shape"] for t in layout["tensors"]})
            net.load_state_dict(self.tm.state_dict(flat, layout))
            np.testing.assert_array_equal(self.tm.flatten(net.state_dict(), layout), flat)
        conv = {"params": 76, "tensors": [{"name": "conv.weight", "shape": [4, 2, 3, 3], "offset": 0},
                                          {"name": "conv.bias", "shape": [4], "offset": 72}]}
        with self.assertRaises(ValueError):
            self.tm.LayoutNet(conv)

    def test_one_local_fit_is_opacus_dp_sgd_at_the_nodes_sampling_rate(self):
        # q = 64 / 240 (the node's), where Opacus alone would sample at 1 / ceil(240 / 64).
        q, steps = dpsgd.schedule(64, 1, 240)
        member = self.member(self.MLP, q, steps, 1.1, lr=0.05)
        flat = np.random.default_rng(6).normal(0, 0.3, size=self.MLP["params"]).astype(np.float32)
        for _ in range(2):  # the second round's steps join the accountant's existing entry
            new, n, metrics = member.fit(flat, {})
            self.assertEqual(new.shape, flat.shape)
            self.assertEqual(new.dtype, np.float32)
            self.assertTrue(np.all(np.isfinite(new)))
            self.assertGreater(np.abs(new - flat).max(), 0.0)
            self.assertEqual(n, 240)
            self.assertEqual(metrics["dp"], {"sampling_rate": q, "noise_multiplier": 1.1, "steps": steps})
            self.assertTrue(0.0 <= metrics["auc"] <= 1.0)
            flat = new
        self.assertEqual(member.engine.accountant.history, [(1.1, q, 2 * steps)])

    def test_a_noiseless_full_batch_fit_is_the_nodes_dp_sgd(self):
        x, y = data(300)
        member = self.member(self.LOGISTIC, 1.0, 3, 0.0, lr=0.1, momentum=0.9)
        start = np.linspace(-0.2, 0.2, PARAMS).astype(np.float32)
        new, _, metrics = member.fit(start, {})
        expected = dpsgd.train(start, x[:240], y[:240], 1.0, 3, 1.0, 0.0, lr=0.1, momentum=0.9)
        np.testing.assert_allclose(new, expected, atol=1e-5)
        self.assertEqual(metrics["dp"], {"sampling_rate": 1.0, "noise_multiplier": 0.0, "steps": 3})

    def test_the_torch_member_submits_through_the_trainer(self):
        node = FakeNode()
        try:
            t = Trainer(node.addr, token=TOKEN)
            member = self.member(t.layout(), 0.25, 8, 1.1)
            t.run(member.fit, rounds=2, timeout=30)
            self.assertEqual(len(node.submissions), 2)
            for s in node.submissions:
                self.assertEqual(s["dp"], {"sampling_rate": 0.25, "noise_multiplier": 1.1, "steps": 8})
                self.assertEqual(s["num_examples"], 240)
            # Label = sign of feature 0: DP-SGD moves its weight up.
            self.assertGreater(node.submissions[1]["delta"][0], 0.0)
        finally:
            node.close()


class DpsgdTests(unittest.TestCase):
    def test_a_noiseless_full_batch_step_moves_at_most_the_clip(self):
        x, y = data()
        w0 = np.zeros(PARAMS, dtype=np.float32)
        w1 = dpsgd.train(w0, x * 100, y, 1.0, 1, 0.5, 0.0, lr=1.0, momentum=0.0)
        self.assertLessEqual(np.linalg.norm(w1 - w0), 0.5 + 1e-6)

    def test_auc_matches_the_pairwise_definition(self):
        rng = np.random.default_rng(4)
        s = rng.integers(0, 5, size=60).astype(float)  # ties on purpose
        y = rng.integers(0, 2, size=60)
        pos, neg = s[y == 1], s[y == 0]
        pairs = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
        self.assertAlmostEqual(dpsgd.auc(s, y), pairs, places=12)

    def test_schedule_is_the_nodes(self):
        self.assertEqual(dpsgd.schedule(64, 1, 240), (64 / 240, 4))
        self.assertEqual(dpsgd.schedule(64, 2, 10), (1.0, 2))


class OpacusTests(unittest.TestCase):
    def test_the_spend_since_the_last_update(self):
        class Accountant:
            history = [(1.1, 0.01, 100)]

        class Engine:
            accountant = Accountant()

        e = Engine()
        spend = OpacusSpend(e)
        e.accountant.history = e.accountant.history + [(1.1, 0.01, 50), (1.1, 0.01, 25)]
        self.assertEqual(spend.take(), {"sampling_rate": 0.01, "noise_multiplier": 1.1, "steps": 75})
        with self.assertRaises(ValueError):
            spend.take()
        e.accountant.history = e.accountant.history + [(1.1, 0.01, 5), (2.0, 0.01, 5)]
        with self.assertRaises(ValueError):
            spend.take()

    def test_steps_merged_into_the_last_entry_are_new_steps(self):
        # Opacus adds a step with the last entry's (sigma, q) to that entry's count.
        class Accountant:
            history = []

        class Engine:
            accountant = Accountant()

        e = Engine()
        spend = OpacusSpend(e)
        e.accountant.history = [(1.1, 0.25, 4)]
        self.assertEqual(spend.take(), {"sampling_rate": 0.25, "noise_multiplier": 1.1, "steps": 4})
        e.accountant.history = [(1.1, 0.25, 8)]  # round 2, same settings: the same entry
        self.assertEqual(spend.take(), {"sampling_rate": 0.25, "noise_multiplier": 1.1, "steps": 4})
        e.accountant.history = [(1.1, 0.25, 8), (0.9, 0.25, 3)]
        self.assertEqual(spend.take(), {"sampling_rate": 0.25, "noise_multiplier": 0.9, "steps": 3})
        e.accountant.history = [(1.1, 0.25, 8), (0.9, 0.25, 5), (1.1, 0.25, 2)]
        with self.assertRaises(ValueError):  # two settings in one update
            spend.take()
        e.accountant.history = []
        with self.assertRaises(ValueError):  # a reset accountant
            spend.take()


if __name__ == "__main__":
    unittest.main()
