"""Look-ups that arrive together share one thread hop and one query.

A public endpoint that reads one row (certificate verification) spends more on the hop to a
worker thread than on the read: 0.5 ms of CPU per request against 0.1 ms for the query, measured
in bench/verify.py. The `Coalescer` keeps the database off the event loop but pays that hop once
per batch: a look-up joins the pending batch; one batch at a time is fetched in the thread pool
by one call for all its keys; the look-ups that arrived meanwhile form the next batch. When
requests come one by one, each is its own batch, fetched at once — batching adds no waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """`await get(key)` is `fetch([key])[key]`, with concurrent keys fetched together.

    `fetch` runs in the thread pool and answers every key it was given (a key it leaves out
    answers None). If it raises, every look-up of that batch raises the same error; the next
    batch is fetched afresh. One instance serves one event loop.
    """

    def __init__(self, fetch: Callable[[Sequence[K]], dict[K, V]], *, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._fetch = fetch
        self._max_batch = max_batch
        self._pending: list[tuple[K, asyncio.Future[V | None]]] = []
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only a weak one
        self.batches = 0  # fetched so far, for tests and benchmarks
        self.looked_up = 0

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        if self._draining and self._loop is not loop:
            # The loop that was draining is gone (a test client's, closed mid-batch).
            self._pending, self._draining = [], False
        future: asyncio.Future[V | None] = loop.create_future()
        self._pending.append((key, future))
        if not self._draining:
            self._draining, self._loop = True, loop
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                batch = [(key, f) for key, f in batch if not f.done()]  # the caller went away
                if not batch:
                    continue
                keys = list(dict.fromkeys(key for key, _ in batch))
                try:
                    found = await run_in_threadpool(self._fetch, keys)
                except Exception as error:  # handed to every caller of the batch
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                except BaseException:  # this task cancelled (shutdown): its callers with it
                    for _, future in batch:
                        future.cancel()
                    raise
                self.batches += 1
                self.looked_up += len(keys)
                for key, future in batch:
                    if not future.done():
                        future.set_result(found.get(key))
        finally:
            self._draining = False
            for _, future in self._pending:  # only if this task itself was cancelled
                if not future.done():
                    future.cancel()
            self._pending.clear()
