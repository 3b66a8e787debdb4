"""The server's own clock for exams: papers whose time is up are graded every half-minute.

Every read and write of a sitting grades what is due first, so a trainee or examiner never
sees a stale state; this loop covers the sittings nobody looks at. Each server process runs
it; the grading itself is idempotent under row locks, so several processes never grade twice.
"""

from __future__ import annotations

import asyncio
import logging

from anyio import to_thread
from sqlalchemy import Engine
from sqlmodel import Session

from server.assessment import sittings

log = logging.getLogger("safetrain.exams")


def grade_once(engine: Engine) -> int:
    with Session(engine, expire_on_commit=False) as session:
        return sittings.grade_due(session)


async def grade_due_forever(engine: Engine, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            graded = await to_thread.run_sync(grade_once, engine)
        except Exception:  # a database hiccup must not end the loop
            log.exception("grading papers that are due failed; retrying in %ss", interval_seconds)
            continue
        if graded:
            log.info("graded %d papers whose time was up", graded)
