"""The server's push loop: every few seconds, deliver what the outbox holds.

Each server process runs it while SAFETRAIN_REGULATOR_PUSH_URL is set; the delivery lock lets
one of them send at a time, so the receiver sees one ordered stream however many there are.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading

from sqlalchemy import Engine

from server.config import Settings
from server.db import utcnow
from server.outbox.deliver import Deliverer, Run

log = logging.getLogger("safetrain.outbox")
EVENTS_PER_RUN = 100


def _pause(run: Run, interval: float) -> float:
    """Until the next poll, or less when the head's backoff ends first or more is waiting."""
    if run.delivered >= EVENTS_PER_RUN:
        return 0.0
    if run.next_attempt_at is not None:
        until = (run.next_attempt_at - utcnow()).total_seconds()
        return max(0.0, min(interval, until))
    return interval


async def _run_in_thread(deliverer: Deliverer, stop: threading.Event) -> Run:
    """One run in a worker thread. Cancelled (the server stops), it asks the run to stop after
    the POST in hand and waits for that, so no write outlives the server."""
    work = functools.partial(deliverer.run, max_events=EVENTS_PER_RUN, stop=stop)
    running = asyncio.get_running_loop().run_in_executor(None, work)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait([running])
        raise


async def deliver_forever(engine: Engine, settings: Settings) -> None:
    interval = settings.regulator_push_interval_seconds
    stop = threading.Event()
    with Deliverer(engine, settings) as deliverer:
        while True:
            try:
                run = await _run_in_thread(deliverer, stop)
            except Exception:  # a database hiccup must not end the loop
                log.exception("delivering the outbox failed; retrying in %ss", interval)
                await asyncio.sleep(interval)
                continue
            if run.delivered:
                log.info("delivered %d outbox events to the regulator", run.delivered)
            if run.failed:
                log.warning("outbox event %s not delivered: %s", run.stopped_at, run.error)
            await asyncio.sleep(_pause(run, interval))
