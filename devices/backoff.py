"""Capped exponential backoff with jitter, for reopening ports and retrying the server."""

from __future__ import annotations

import random


class Backoff:
    """Delays `initial`, `initial·factor`, … up to `cap`, each spread by ±`jitter` (a fraction).

    Jitter keeps a hall of devices that lost power together from retrying in lockstep.
    """

    def __init__(
        self,
        initial: float = 0.5,
        cap: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial <= cap or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("need 0 < initial <= cap, factor >= 1, 0 <= jitter < 1")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.attempts = 0
        self._rng = rng or random.Random()  # noqa: S311 - spreading retries, not secrets

    def next_delay(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        base = min(self.cap, self.initial * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return base * (1 + self.jitter * (2 * self._rng.random() - 1))

    def reset(self) -> None:
        self.attempts = 0
