"""The trainer API client: fetch the open round's model, submit this member's update."""

import json
import math
import sys
import time
import urllib.error
import urllib.request

import numpy as np


# What a node that is down or restarting looks like to urllib.
UNREACHABLE = (urllib.error.URLError, ConnectionError, TimeoutError, OSError)


class TrainerError(Exception):
    """The node refused a request; `status` is the HTTP status, `reason` the node's sentence."""

    def __init__(self, status, reason):
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def dp_spend(sampling_rate, noise_multiplier, steps):
    """The DP-SGD parameters one round used, as the node records them."""
    q, sigma, steps = float(sampling_rate), float(noise_multiplier), int(steps)
    if not (0.0 <= q <= 1.0) or not math.isfinite(sigma) or sigma < 0 or steps < 0:
        raise ValueError(f"not a DP-SGD spend: q={q} sigma={sigma} steps={steps}")
    return {"sampling_rate": q, "noise_multiplier": sigma, "steps": steps}


class Trainer:
    """A connection to one node's trainer API (loopback, bearer token)."""

    def __init__(self, node="127.0.0.1:7190", token=None, token_file=None, timeout=60.0):
        if token is None and token_file is None:
            raise ValueError("give token or token_file (DATA_DIR/trainer.token)")
        self.token_file = token_file
        self.token = token if token is not None else self._read_token()
        self.base = node if node.startswith("http") else f"http://{node}"
        self.timeout = timeout

    def _read_token(self):
        with open(self.token_file, encoding="ascii") as f:
            return f.read().strip()

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        for attempt in (0, 1):
            req = urllib.request.Request(self.base + path, data=data, method=method)
            req.add_header("Authorization", f"Bearer {self.token}")
            if data is not None:
                req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:
                reason = e.read().decode(errors="replace").strip()
                # The node writes a new token at every start: after a restart, read it again.
                if e.code == 401 and attempt == 0 and self.token_file is not None:
                    fresh = self._read_token()
                    if fresh != self.token:
                        self.token = fresh
                        continue
                raise TrainerError(e.code, reason) from None

    def round(self):
        """What the node offers: {open, round, base_model, params, epsilon_spent, epsilon_max, delta, reason}."""
        return self._call("GET", "/v1/round")

    def model(self):
        """The open round's global model: (round, base_model, float32 array)."""
        m = self._call("GET", "/v1/model")
        return m["round"], m["base_model"], np.asarray(m["params"], dtype=np.float32)

    def plan(self, examples):
        """The genesis plan for a member with `examples` training examples, or None without one."""
        try:
            return self._call("GET", f"/v1/plan?examples={int(examples)}")
        except TrainerError as e:
            if e.status == 404:
                return None
            raise

    def submit(self, round, base_model, delta, dp, num_examples, metrics):
        """Submit an update (local model minus global). Returns {update_hash, epsilon_after}."""
        delta = np.asarray(delta, dtype=np.float32).ravel()
        if not np.all(np.isfinite(delta)):
            raise ValueError("the update has non-finite values; the node would refuse it")
        body = {
            "round": int(round),
            "base_model": base_model,
            "delta": delta.tolist(),
            "dp": dp,
            "num_examples": int(num_examples),
            "metrics": {
                "examples": int(metrics.get("examples", 0)),
                "loss": float(metrics.get("loss", 0.0)),
                "accuracy": float(metrics.get("accuracy", 0.0)),
                "auc": float(metrics.get("auc", 0.0)),
                "groups": metrics.get("groups", []),
            },
        }
        return self._call("POST", "/v1/update", body)

    def wait_round(self, after=0, poll=0.05, timeout=None):
        """Block until a round later than `after` is open; returns (round, base_model, params, offer)."""
        start = time.monotonic()
        offer = None
        while True:
            try:
                offer = self.round()
                if offer.get("open") and offer["round"] > after:
                    r, base, params = self.model()
                    if r == offer["round"]:
                        return r, base, params, offer
            except UNREACHABLE:
                # The node is restarting (or not up yet): it catches up and offers again.
                offer = {"open": False, "round": after, "reason": "node unreachable"}
            except TrainerError as e:
                if e.status != 409:  # 409: the round closed between the two calls
                    raise
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(f"no round after {after} opened within {timeout} s: {offer}")
            time.sleep(poll)

    def run(self, fit, rounds=None, returns="parameters", on_round=None, timeout=None):
        """Flower-like loop: for every open round, `fit(parameters, config)` returns
        `(parameters or delta, num_examples, metrics)`; metrics carry the evaluation of the
        global model (`loss`, `accuracy`, `auc`, `examples`) and the DP parameters used, as
        `dp` (from `dp_spend`) or flat `sampling_rate`, `noise_multiplier`, `steps`.
        `returns` says whether fit returns new "parameters" (Flower) or a "delta". Stops after
        round `rounds` (None: never). Returns the node's answers, one per accepted round."""
        if returns not in ("parameters", "delta"):
            raise ValueError("returns must be 'parameters' or 'delta'")
        accepted, last = [], 0
        while rounds is None or last < rounds:
            r, base, params, offer = self.wait_round(after=last, timeout=timeout)
            config = {k: offer[k] for k in ("round", "base_model", "epsilon_spent", "epsilon_max", "delta")}
            out, n, metrics = fit(params.copy(), config)
            out = np.asarray(out, dtype=np.float32).ravel()
            delta = out - params if returns == "parameters" else out
            dp = metrics.get("dp") or dp_spend(
                metrics["sampling_rate"], metrics["noise_multiplier"], metrics["steps"]
            )
            try:
                answer = self.submit(r, base, delta, dp, n, metrics)
            except UNREACHABLE as e:
                # The node went down mid-submission. If it recorded the release first, it
                # re-announces that update after its restart; either way, on to the next round.
                print(f"fedledger: round {r} submission lost ({e}); waiting for the node", file=sys.stderr)
                last = r
                continue
            except TrainerError as e:
                if e.status == 409 and ("not open" in e.reason or "already released" in e.reason):
                    last = r  # the round closed while we trained: take the next one
                    continue
                if e.status == 409 and "over its cap" in e.reason:
                    # Spends only grow: no later update can be afforded either.
                    print(f"fedledger: privacy budget exhausted at round {r}: {e.reason}", file=sys.stderr)
                    return accepted
                raise
            answer["round"] = r
            answer["dp"] = dp
            accepted.append(answer)
            if on_round is not None:
                on_round(answer)
            last = r
        return accepted
