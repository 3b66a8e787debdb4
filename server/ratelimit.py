"""In-process rate limits per client address: at most `limit` hits in any moving window.

Kept in memory by each server process, like the `limits` library's MemoryStorage it replaces,
without that storage's costs on a busy endpoint: a thread started every 10 ms to expire
entries, a list prepended to on every hit, and every address walked on each expiry
(docs/benchmarks.md, certificate verification). Here each address keeps the times of its hits
within the window, oldest first; a hit drops the expired ones from the front, and once a window
the addresses with no hit left in it are forgotten.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class MovingWindow:
    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # hits come from the event loop and from worker threads
        self._next_sweep = 0.0

    def hit(self, key: str, limit: int, *, now: float | None = None) -> bool:
        """Count a hit for `key`; False, and not counted, if it already had `limit` in the
        window."""
        now = time.monotonic() if now is None else now
        expired = now - self.seconds
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(expired)
                self._next_sweep = now + self.seconds
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
            while hits and hits[0] <= expired:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    def _sweep(self, expired: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= expired]:
            del self._hits[key]

    def __len__(self) -> int:
        """The addresses remembered."""
        return len(self._hits)
