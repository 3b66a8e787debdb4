"""Look-ups that arrive together share one fetch (server/batching.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from server.batching import Coalescer


class Squares:
    """A fetch that answers n → n², records each batch, and can be held until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self.fail_next = False

    def __call__(self, keys: Sequence[int]) -> dict[int, int]:
        self.batches.append(list(keys))
        self.entered.set()
        self.release.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database went away")
        return {k: k * k for k in keys if k >= 0}  # negative keys are "not issued"


async def _entered(fetch: Squares) -> None:
    while not fetch.entered.is_set():
        await asyncio.sleep(0.001)


def test_one_look_up_alone_is_fetched_at_once() -> None:
    fetch = Squares()
    lookups: Coalescer[int, int] = Coalescer(fetch)
    assert asyncio.run(lookups.get(7)) == 49
    assert fetch.batches == [[7]]


def test_look_ups_arriving_during_a_fetch_share_the_next_one() -> None:
    async def scenario() -> tuple[list[int | None], list[list[int]]]:
        fetch = Squares()
        fetch.release.clear()
        lookups: Coalescer[int, int] = Coalescer(fetch)
        first = asyncio.create_task(lookups.get(1))
        await _entered(fetch)  # the first batch is in the thread, held
        rest = [asyncio.create_task(lookups.get(n)) for n in (2, 3, 2, -5, 4)]
        await asyncio.sleep(0.01)
        fetch.release.set()
        answers = [await first, *[await task for task in rest]]
        return answers, fetch.batches

    answers, batches = asyncio.run(scenario())
    # Every caller gets its own key's answer; a key asked twice is fetched once; a key the
    # fetch left out answers None.
    assert answers == [1, 4, 9, 4, None, 16]
    assert batches == [[1], [2, 3, -5, 4]]


def test_batches_are_no_larger_than_the_maximum() -> None:
    async def scenario() -> list[list[int]]:
        fetch = Squares()
        fetch.release.clear()
        lookups: Coalescer[int, int] = Coalescer(fetch, max_batch=3)
        first = asyncio.create_task(lookups.get(0))
        await _entered(fetch)
        rest = [asyncio.create_task(lookups.get(n)) for n in range(1, 8)]
        await asyncio.sleep(0.01)
        fetch.release.set()
        assert [await first, *[await t for t in rest]] == [n * n for n in range(8)]
        return fetch.batches

    assert asyncio.run(scenario()) == [[0], [1, 2, 3], [4, 5, 6], [7]]


def test_a_failed_fetch_fails_its_batch_only() -> None:
    async def scenario() -> None:
        fetch = Squares()
        fetch.release.clear()
        fetch.fail_next = True
        lookups: Coalescer[int, int] = Coalescer(fetch)
        doomed = [asyncio.create_task(lookups.get(n)) for n in (1, 2)]
        await _entered(fetch)
        fetch.release.set()
        for task in doomed:
            with pytest.raises(RuntimeError, match="database went away"):
                await task
        assert await lookups.get(3) == 9  # the next look-up is fetched afresh

    asyncio.run(scenario())


def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    async def scenario() -> None:
        fetch = Squares()
        fetch.release.clear()
        lookups: Coalescer[int, int] = Coalescer(fetch)
        first = asyncio.create_task(lookups.get(1))
        await _entered(fetch)
        gone = asyncio.create_task(lookups.get(2))
        kept = asyncio.create_task(lookups.get(3))
        await asyncio.sleep(0.01)
        gone.cancel()  # a client that disconnected
        fetch.release.set()
        assert (await first, await kept) == (1, 9)
        assert fetch.batches == [[1], [3]]

    asyncio.run(scenario())


def test_callers_waiting_on_a_cancelled_fetch_are_cancelled_too() -> None:
    async def scenario() -> None:
        fetch = Squares()
        fetch.release.clear()
        lookups: Coalescer[int, int] = Coalescer(fetch)
        inflight = asyncio.create_task(lookups.get(1))
        await _entered(fetch)
        queued = asyncio.create_task(lookups.get(2))
        await asyncio.sleep(0.01)
        assert lookups._task is not None
        lookups._task.cancel()  # as at shutdown
        for task in (inflight, queued):
            with pytest.raises(asyncio.CancelledError):
                await task
        fetch.release.set()
        assert await lookups.get(3) == 9  # and the next look-up starts afresh

    asyncio.run(scenario())


def test_a_coalescer_outlives_the_loop_it_was_used_on() -> None:
    fetch = Squares()
    lookups: Coalescer[int, int] = Coalescer(fetch)
    # Each test client request may run on a loop of its own.
    assert [asyncio.run(lookups.get(n)) for n in (1, 2, 3)] == [1, 4, 9]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Coalescer(Squares(), max_batch=0)
