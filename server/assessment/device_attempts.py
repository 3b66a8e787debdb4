"""A device result attributed to a trainee becomes a VR or rig attempt, in the same transaction."""

from __future__ import annotations

import json
import logging

from sqlmodel import Session, col, select

from curricula import catalogue, rule_set_on
from curricula.model import Curriculum, Scenario
from scoring.device import normalise_device_result
from scoring.errors import InvalidDeviceResult
from scoring.numbers import recorded
from server.assessment.models import Attempt, AttemptSource, AttemptStatus
from server.assessment.sittings import LOCAL
from server.audit import service as audit
from server.audit.service import Actor
from server.devices.models import DeviceFrame
from server.scheduling.models import Course, Enrolment, EnrolmentStatus

log = logging.getLogger("safetrain.devices")
SYSTEM = Actor(name="system:devices")


def scenario_of(code: str) -> tuple[Curriculum, Scenario] | None:
    for curriculum in catalogue().curricula.values():
        for scenario in curriculum.scenarios:
            if scenario.code == code:
                return curriculum, scenario
    return None


def _course_of(session: Session, trainee_id: int, curriculum_code: str) -> int | None:
    """The trainee's course of that curriculum (the latest, if they were enrolled twice)."""
    return session.exec(
        select(Course.id)
        .join(Enrolment, col(Enrolment.course_id) == Course.id)
        .where(
            Enrolment.trainee_id == trainee_id,
            Enrolment.status == EnrolmentStatus.enrolled,
            Course.curriculum_code == curriculum_code,
        )
        .order_by(col(Course.starts_on).desc())
    ).first()


def record(session: Session, row: DeviceFrame) -> Attempt | None:
    """Score the result and store it as a final attempt of the trainee; the caller commits."""
    if row.trainee_id is None or row.attempt_id is not None or row.scenario is None:
        return None
    found = scenario_of(row.scenario)
    if found is None:
        return None
    curriculum, scenario = found
    frame = json.loads(row.frame)
    try:
        grade = normalise_device_result(frame, scenario)
    except InvalidDeviceResult:
        # The frame stays stored and visible; it just cannot count as an attempt.
        log.warning("device result %s cannot be scored", row.key, exc_info=True)
        return None
    taken_at = row.occurred_at or row.received_at
    rule_set = rule_set_on(catalogue().rule_sets, taken_at.astimezone(LOCAL).date())
    attempt = Attempt(
        trainee_id=row.trainee_id,
        course_id=_course_of(session, row.trainee_id, curriculum.code),
        curriculum_code=curriculum.code,
        curriculum_version=curriculum.version,
        part=grade.result.part,
        source=AttemptSource.device,
        source_ref=row.key,
        taken_at=taken_at,
        rule_set=rule_set.code,
        status=AttemptStatus.final,
        score=str(recorded(grade.result.exact)),
        passed=grade.result.passed,
        veto_failed=",".join(v.item for v in grade.result.veto)[:400],
        result=json.dumps(grade.to_dict(), ensure_ascii=False),
        signed_at=row.stored_at,
    )
    session.add(attempt)
    session.flush()
    row.attempt_id = attempt.id
    session.add(row)
    audit.record(
        session,
        SYSTEM,
        "attempt.record",
        "attempt",
        attempt.id,
        after={
            "trainee_id": row.trainee_id,
            "part": attempt.part,
            "device_result": row.key,
            "score": attempt.score,
            "passed": attempt.passed,
            "rule_set": rule_set.code,
        },
    )
    return attempt
