"""The trainer API client: fetch the open round's model, submit this member's update."""

import json
import math
import sys
import time
import urllib.error
import urllib.request

import numpy as np


OCTET_STREAM = "application/octet-stream"

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


def split(flat, layout):
    """The flat model as a dict of named arrays, in the node's layout (`Trainer.layout()`)."""
    flat = np.asarray(flat, dtype=np.float32)
    if flat.size != layout["params"]:
        raise ValueError(f"{flat.size} values, the layout has {layout['params']}")
    out = {}
    for t in layout["tensors"]:
        n = int(np.prod(t["shape"]))
        out[t["name"]] = flat[t["offset"] : t["offset"] + n].reshape(t["shape"])
    return out


def join(tensors, layout):
    """Named arrays (a dict, e.g. a PyTorch state_dict as numpy) as one flat f32 vector in the
    node's layout; every tensor of the layout must be there with its shape."""
    parts = []
    for t in layout["tensors"]:
        a = np.asarray(tensors[t["name"]], dtype=np.float32)
        if list(a.shape) != list(t["shape"]):
            raise ValueError(f"{t['name']}: shape {list(a.shape)}, the layout says {t['shape']}")
        parts.append(a.ravel())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


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
        headers = {} if data is None else {"Content-Type": "application/json"}
        raw, _ = self._request(method, path, data, headers)
        return json.loads(raw)

    def _request(self, method, path, data=None, headers=None):
        """One authenticated request: (body bytes, response headers)."""
        for attempt in (0, 1):
            req = urllib.request.Request(self.base + path, data=data, method=method)
            req.add_header("Authorization", f"Bearer {self.token}")
            for k, v in (headers or {}).items():
                req.add_header(k, v)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    return r.read(), r.headers
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

    def layout(self):
        """The model's named tensors: {params, tensors: [{name, shape, offset}]}, in flat order."""
        return self._call("GET", "/v1/layout")

    def model(self):
        """The open round's global model: (round, base_model, float32 array). Travels as raw
        little-endian f32, so models of any size cost their bytes, not a JSON rendering."""
        raw, headers = self._request("GET", "/v1/model", headers={"Accept": OCTET_STREAM})
        params = np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=False)
        return int(headers["x-fedledger-round"]), headers["x-fedledger-base-model"], params

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
        delta = np.ascontiguousarray(np.asarray(delta, dtype="<f4").ravel())
        if not np.all(np.isfinite(delta)):
            raise ValueError("the update has non-finite values; the node would refuse it")
        meta = {
            "round": int(round),
            "base_model": base_model,
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
        headers = {
            "Content-Type": OCTET_STREAM,
            "X-Fedledger-Submission": json.dumps(meta, allow_nan=False),
        }
        # A view of the array, not a copy: an update can be hundreds of megabytes.
        raw, _ = self._request("POST", "/v1/update", memoryview(delta).cast("B"), headers)
        return json.loads(raw)

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
