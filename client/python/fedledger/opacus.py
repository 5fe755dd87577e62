"""The DP parameters an Opacus `PrivacyEngine` used, for the node's accountant.

Opacus's RDP accountant keeps `history`, a list of `(noise_multiplier, sample_rate, num_steps)`.
`OpacusSpend(engine).take()` returns what was added since the last call as one spend. The node
records one (q, sigma, steps) per update, so a round must keep q and sigma fixed (Opacus does,
unless the optimizer is changed mid-round). Needs no import of opacus or torch."""

from .client import dp_spend


class OpacusSpend:
    """Reads `engine.accountant.history` incrementally."""

    def __init__(self, engine):
        self.engine = engine
        self.seen = len(self._history())

    def _history(self):
        return list(getattr(self.engine.accountant, "history", []))

    def take(self):
        """The spend since the last call: {sampling_rate, noise_multiplier, steps}."""
        history = self._history()
        new, self.seen = history[self.seen :], len(history)
        if not new:
            raise ValueError("Opacus recorded no steps since the last update")
        settings = {(float(sigma), float(q)) for sigma, q, _ in new}
        if len(settings) != 1:
            raise ValueError(f"one update must use one (sigma, q); Opacus recorded {sorted(settings)}")
        (sigma, q), = settings
        return dp_spend(q, sigma, sum(int(steps) for _, _, steps in new))
