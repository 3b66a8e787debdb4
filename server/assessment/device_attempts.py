"""Device results attributed to a trainee become VR or rig attempts, in the same transaction.

Batch-wise: a gateway's batch of 500 results is scored, inserted as attempts, linked to their
frames and audit-logged with a handful of statements, not a handful per result.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlmodel import Session, col, select

from curricula import catalogue, rule_set_on
from curricula.model import Curriculum, Scenario
from scoring.device import normalise_device_result
from scoring.errors import InvalidDeviceResult
from scoring.numbers import recorded
from server import bulk
from server.assessment.models import Attempt, AttemptSource, AttemptStatus
from server.assessment.sittings import LOCAL
from server.audit import service as audit
from server.audit.service import Actor, Change
from server.devices.models import DeviceFrame
from server.scheduling.models import Course, Enrolment, EnrolmentStatus

log = logging.getLogger("safetrain.devices")
SYSTEM = Actor(name="system:devices")


@cache
def _scenarios() -> dict[str, tuple[Curriculum, Scenario]]:
    return {s.code: (c, s) for c in catalogue().curricula.values() for s in c.scenarios}


def scenario_of(code: str) -> tuple[Curriculum, Scenario] | None:
    return _scenarios().get(code)


@dataclass(frozen=True)
class Scored:
    """One stored result frame with its trainee, ready to become an attempt."""

    key: str
    trainee_id: int
    scenario: str
    frame: Mapping[str, Any]  # decoded
    occurred_at: dt.datetime | None
    received_at: dt.datetime
    stored_at: dt.datetime


def _courses(session: Session, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """Each (trainee, curriculum)'s course (the latest, if they were enrolled twice)."""
    if not pairs:
        return {}
    trainee_ids = {t for t, _ in pairs}
    rows = session.exec(
        select(Enrolment.trainee_id, Course.curriculum_code, Course.id)
        .join(Course, col(Course.id) == Enrolment.course_id)
        .where(
            col(Enrolment.trainee_id).in_(trainee_ids),
            Enrolment.status == EnrolmentStatus.enrolled,
        )
        .order_by(col(Course.starts_on))
    ).all()
    return {(t, code): cid for t, code, cid in rows if cid is not None}  # later courses win


def courses_for(session: Session, results: Sequence[Scored]) -> dict[tuple[int, str], int]:
    """The course each result's attempt belongs to, by (trainee, curriculum): one query."""
    pairs = set()
    for r in results:
        known = scenario_of(r.scenario)
        if known is not None:
            pairs.add((r.trainee_id, known[0].code))
    return _courses(session, pairs)


def attempt_rows(
    results: Sequence[Scored], courses: Mapping[tuple[int, str], int]
) -> list[dict[str, Any]]:
    """Score each result into the row of its final attempt (no database: see courses_for).

    A result that cannot be scored is left out: its frame stays stored and visible, it just
    cannot count as an attempt.
    """
    rule_sets = catalogue().rule_sets
    rows: list[dict[str, Any]] = []
    for r in results:
        known = scenario_of(r.scenario)
        if known is None:
            continue
        curriculum, scenario = known
        try:
            grade = normalise_device_result(r.frame, scenario)
        except InvalidDeviceResult:
            log.warning("device result %s cannot be scored", r.key, exc_info=True)
            continue
        taken_at = r.occurred_at or r.received_at
        rule_set = rule_set_on(rule_sets, taken_at.astimezone(LOCAL).date())
        rows.append(
            {
                "trainee_id": r.trainee_id,
                "course_id": courses.get((r.trainee_id, curriculum.code)),
                "curriculum_code": curriculum.code,
                "curriculum_version": curriculum.version,
                "part": grade.result.part,
                "source": AttemptSource.device.value,
                "source_ref": r.key,
                "taken_at": taken_at,
                "rule_set": rule_set.code,
                "status": AttemptStatus.final.value,
                "score": str(recorded(grade.result.exact)),
                "passed": grade.result.passed,
                "veto_failed": ",".join(v.item for v in grade.result.veto)[:400],
                "result": json.dumps(grade.to_dict(), ensure_ascii=False),
                "marks": None,
                "version": 1,
                "signed_at": r.stored_at,
                "created_at": r.stored_at,
            }
        )
    return rows


def store(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the attempts of `attempt_rows` with their audit events; the caller commits."""
    if not rows:
        return 0
    table = Attempt.__table__  # type: ignore[attr-defined]
    made = dict(bulk.insert_returning(session, table, rows, ("source_ref", "id")))
    ids = [made[row["source_ref"]] for row in rows]
    audit.record_many(
        session,
        SYSTEM,
        [
            Change(
                "attempt.record",
                "attempt",
                attempt_id,
                after={
                    "trainee_id": row["trainee_id"],
                    "part": row["part"],
                    "device_result": row["source_ref"],
                    "score": row["score"],
                    "passed": row["passed"],
                    "rule_set": row["rule_set"],
                },
            )
            for attempt_id, row in zip(ids, rows, strict=True)
        ],
    )
    return len(ids)


def record_many(session: Session, results: Sequence[Scored]) -> int:
    """Score each result and store it as a final attempt; the caller commits."""
    return store(session, attempt_rows(results, courses_for(session, results)))


def attempt_of(session: Session, key: str) -> Attempt | None:
    """The attempt a device result became (its original version), if it became one."""
    return session.exec(
        select(Attempt).where(
            Attempt.source == AttemptSource.device,
            Attempt.source_ref == key,
            col(Attempt.supersedes_id).is_(None),
        )
    ).first()


def record(session: Session, row: DeviceFrame) -> int:
    """One frame (a trainer's attribution by hand); the caller commits."""
    if row.trainee_id is None or row.scenario is None or attempt_of(session, row.key) is not None:
        return 0
    return record_many(
        session,
        [
            Scored(
                row.key,
                row.trainee_id,
                row.scenario,
                json.loads(row.frame),
                row.occurred_at,
                row.received_at,
                row.stored_at,
            )
        ],
    )
