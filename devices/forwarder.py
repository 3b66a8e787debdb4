"""Drains the spool to the server: `POST /api/v1/device-results`, in order, ≤ 500 a batch.

A batch is sent again (with capped exponential backoff) until the server answers it; the next
batch starts only after that, so items reach the server in the order they were spooled. An
item leaves the queue only on `accepted` or `duplicate`; `rejected` items are set aside with
the server's reason. A server that is down, answers 5xx, hangs or refuses the token changes
nothing in the spool: it grows, and drains when the server is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import httpx

from devices.backoff import Backoff
from devices.spool import Outcome, Pending, Spool, SpoolError, utc_now

log = logging.getLogger("devices.gateway")

RESULTS_PATH = "/api/v1/device-results"
MAX_BATCH = 500  # the contract's limit
CHECKPOINT_EVERY = 1.0  # seconds between the spool's WAL checkpoints
STATUSES = frozenset({"accepted", "duplicate", "rejected"})


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class Forwarder:
    """The thread that posts the spool's pending items and records the answers."""

    def __init__(
        self,
        spool: Spool,
        server_url: str,
        token: str | None,
        *,
        batch_size: int = MAX_BATCH,
        linger: float = 0.2,
        timeout: float = 15.0,
        backoff: Backoff | None = None,
        keep_delivered: dt.timedelta = dt.timedelta(days=1),
        prune_every: float = 600.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 0 < batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1…{MAX_BATCH}")
        self._spool = spool
        self._batch_size = batch_size
        self._linger = linger
        self._backoff = backoff or Backoff(initial=1.0, cap=60.0)
        self._keep_delivered = keep_delivered
        self._prune_every = prune_every
        self._client = httpx.Client(
            base_url=server_url,
            headers={**auth_headers(token), "Content-Type": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self.server_url = server_url
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.failures = 0  # consecutive
        self.last_ok: str | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="forwarder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        next_prune = time.monotonic() + self._prune_every
        next_checkpoint = time.monotonic()
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_checkpoint:
                    self._spool.checkpoint()  # here, so that no ack waits for one
                    next_checkpoint = time.monotonic() + CHECKPOINT_EVERY
                if time.monotonic() >= next_prune:
                    self._spool.prune_delivered(self._keep_delivered)
                    next_prune = time.monotonic() + self._prune_every
                seen = self._spool.generation
                items = self._spool.pending(self._batch_size)
                if not items:
                    self._spool.wait_for_items(seen, 0.2)
                    continue
                if len(items) < self._batch_size and self._linger > 0:
                    self._stopping.wait(self._linger)  # let a batch fill rather than post each
                    items = self._spool.pending(self._batch_size)
                sent = self.send(items)
            except SpoolError as exc:
                log.error("forwarder: %s", exc)
                self.last_error = str(exc)
                sent = False
            if sent:
                self.failures = 0
                self._backoff.reset()
            else:
                self.failures += 1
                self._stopping.wait(self._backoff.next_delay())

    def send(self, items: list[Pending]) -> bool:
        """Post one batch and settle what the server answered; True if it answered every item."""
        body = '{"items":[' + ",".join(i.envelope for i in items) + "]}"
        try:
            response = self._client.post(RESULTS_PATH, content=body.encode("utf-8"))
        except httpx.HTTPError as exc:
            return self._failed(f"{type(exc).__name__}: {exc}")
        if response.status_code != 200:
            return self._failed(f"HTTP {response.status_code}: {response.text[:200]}")
        outcomes = self._outcomes(items, response)
        if outcomes is None:
            return self._failed(f"answer not in the contract's shape: {response.text[:200]}")
        self.last_ok = utc_now()
        if self.last_error is not None:
            log.info("server %s answering again", self.server_url)
            self.last_error = None
        self.batches += 1
        for o in outcomes:
            if o.status == "accepted":
                self.accepted += 1
            elif o.status == "duplicate":
                self.duplicates += 1
            else:
                self.rejected += 1
                log.warning("server rejected %s: %s (kept aside in the spool)", o.key, o.reason)
        self._spool.settle(outcomes)  # last: whoever sees the queue shorter sees the counts too
        if len(outcomes) < len(items):
            return self._failed(f"{len(items) - len(outcomes)} items left unanswered")
        return True

    def _outcomes(self, items: list[Pending], response: httpx.Response) -> list[Outcome] | None:
        try:
            results: Any = response.json()["results"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(results, list):
            return None
        answered: dict[str, Outcome] = {}
        for entry in results:
            if not isinstance(entry, dict):
                return None
            key, status, reason = entry.get("key"), entry.get("status"), entry.get("reason")
            if isinstance(key, str) and status in STATUSES:
                answered.setdefault(key, Outcome(key, str(status), str(reason) if reason else None))
        # The answer is in order, one per item; matching by key also survives a server that
        # reorders or leaves some out (those stay pending and go again).
        return [answered[i.key] for i in items if i.key in answered]

    def _failed(self, why: str) -> bool:
        if why != self.last_error:
            log.warning("forwarder: %s (items stay in the spool)", why)
        self.last_error = why
        return False

    def status(self) -> dict[str, Any]:
        return {
            "server_url": self.server_url,
            "batches": self.batches,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "consecutive_failures": self.failures,
            "last_ok": self.last_ok,
            "last_error": self.last_error,
        }
