"""The DP parameters an Opacus `PrivacyEngine` used, for the node's accountant.

Opacus's accountants keep `history`, a list of `(noise_multiplier, sample_rate, num_steps)`; a
step with the same (sigma, q) as the last entry adds one to that entry's `num_steps` rather than
appending one. `OpacusSpend(engine).take()` returns what was added since the last call (new
entries, and new steps of the entry that was last then) as one spend. The node records one
(q, sigma, steps) per update, so a round must keep q and sigma fixed (Opacus does, unless the
optimizer is changed mid-round). Needs no import of opacus or torch."""

from .client import dp_spend


class OpacusSpend:
    """Reads `engine.accountant.history` incrementally."""

    def __init__(self, engine):
        self.engine = engine
        self.seen = self._mark(self._history())

    def _history(self):
        return list(getattr(self.engine.accountant, "history", []))

    @staticmethod
    def _mark(history):
        """How far `take` has read: (entries, steps of the last entry)."""
        return len(history), (int(history[-1][2]) if history else 0)

    def take(self):
        """The spend since the last call: {sampling_rate, noise_multiplier, steps}."""
        history = self._history()
        entries, last_steps = self.seen
        if len(history) < entries or (entries and int(history[entries - 1][2]) < last_steps):
            raise ValueError("the Opacus accountant's history shrank: was it reset?")
        new = list(history[entries:])
        if entries and int(history[entries - 1][2]) > last_steps:
            sigma, q, steps = history[entries - 1]
            new.insert(0, (sigma, q, int(steps) - last_steps))
        self.seen = self._mark(history)
        if not new:
            raise ValueError("Opacus recorded no steps since the last update")
        settings = {(float(sigma), float(q)) for sigma, q, _ in new}
        if len(settings) != 1:
            raise ValueError(f"one update must use one (sigma, q); Opacus recorded {sorted(settings)}")
        (sigma, q), = settings
        return dp_spend(q, sigma, sum(int(steps) for _, _, steps in new))
