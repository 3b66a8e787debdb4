"""Practical exams: an examiner marks a trainee's checklist, sees the outcome live, and signs it.

The checklist is a draft attempt while it is marked; the examiner's preview shows the points
lost so far, the most the trainee can still reach, and any failed veto item (否决项) at once.
Signing grades it under the rule set in force on the exam date and makes it final: from then on
it never changes — a correction is a new version (see `server.assessment.attempts`). A second
examiner may co-sign. Whoever trained the course may not examine it (教考分离).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from curricula import catalogue, rule_set_on
from curricula.model import PracticalBlueprint
from curricula.rules import PartRule
from scoring.errors import InvalidMarks
from scoring.numbers import recorded
from scoring.practical import ItemMark, PracticalGrade, grade_practical
from scoring.results import PRACTICAL
from server.assessment.models import Attempt, AttemptSource, AttemptStatus
from server.assessment.sittings import LOCAL, check_separation, curriculum_of
from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.errors import Conflict, InvalidInput, NotFound, NotPermitted
from server.scheduling import service as scheduling
from server.scheduling.models import Enrolment, EnrolmentStatus


def blueprint_of(curriculum_code: str, version: str | None = None) -> PracticalBlueprint:
    curriculum = curriculum_of(curriculum_code, version)
    if curriculum.assessment.practical is None:
        raise InvalidInput(
            f"课程体系 {curriculum.code} 没有实操考试",
            f"curriculum {curriculum.code} has no practical exam",
            code="no_practical_exam",
        )
    return curriculum.assessment.practical


def get_attempt(session: Session, attempt_id: int, *, lock: bool = False) -> Attempt:
    query = select(Attempt).where(Attempt.id == attempt_id)
    if lock:
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is None:
        raise NotFound(
            f"考核记录 {attempt_id} 不存在",
            f"attempt {attempt_id} does not exist",
            code="attempt_not_found",
        )
    return found


def start(
    session: Session,
    actor: Actor,
    course_id: int,
    trainee_id: int,
    *,
    may_sit: Callable[[int, dt.date], tuple[bool, str, list[dict[str, str]]]],
    now: dt.datetime | None = None,
    station_id: int | None = None,
) -> Attempt:
    """Open a checklist for a trainee of the course (the open one, if there is one already);
    refused when the decision says the trainee may not sit the practical now. `station_id`:
    where the exam is held (checked by `server.assessment.recordings.start_practical`)."""
    now = now or utcnow()
    course = scheduling.get_course(session, course_id)
    check_separation(session, actor, course)
    enrolled = session.exec(
        select(Enrolment.id).where(
            Enrolment.course_id == course_id,
            Enrolment.trainee_id == trainee_id,
            Enrolment.status == EnrolmentStatus.enrolled,
        )
    ).first()
    if enrolled is None:
        raise InvalidInput(
            f"学员 {trainee_id} 不在班级 {course.code} 中",
            f"trainee {trainee_id} is not enrolled in course {course.code}",
            code="not_enrolled",
        )
    blueprint_of(course.curriculum_code)
    open_one = session.exec(
        select(Attempt).where(
            Attempt.course_id == course_id,
            Attempt.trainee_id == trainee_id,
            Attempt.part == PRACTICAL,
            Attempt.status == AttemptStatus.draft,
        )
    ).first()
    if open_one is not None:
        return open_one
    allowed, state, why = may_sit(trainee_id, now.astimezone(LOCAL).date())
    if not allowed:
        raise Conflict(
            "该学员现在不能参加实操考试：" + "；".join(r["zh"] for r in why),
            "the trainee may not sit the practical exam now: " + "; ".join(r["en"] for r in why),
            code="may_not_sit",
            details={"state": state, "reasons": why},
        )
    curriculum = curriculum_of(course.curriculum_code)
    rule_set = rule_set_on(catalogue().rule_sets, now.astimezone(LOCAL).date())
    attempt = Attempt(
        trainee_id=trainee_id,
        course_id=course_id,
        curriculum_code=curriculum.code,
        curriculum_version=curriculum.version,
        part=PRACTICAL,
        source=AttemptSource.practical,
        source_ref=f"course:{course_id}",
        taken_at=now,
        rule_set=rule_set.code,
        status=AttemptStatus.draft,
        marks="[]",
        recorded_by=actor.user_id,
        station_id=station_id,
    )
    session.add(attempt)
    session.flush()
    opened: dict[str, Any] = {"trainee_id": trainee_id, "course_id": course_id, "part": PRACTICAL}
    if station_id is not None:
        opened["station_id"] = station_id
    audit.record(session, actor, "attempt.start", "attempt", attempt.id, after=opened)
    session.commit()
    session.refresh(attempt)
    return attempt


def _marks(raw: list[Any]) -> list[ItemMark]:
    try:
        return [ItemMark.from_dict(m) for m in raw]
    except InvalidMarks as exc:
        raise InvalidInput(exc.zh, exc.en, code=exc.code, details=exc.details) from exc


def _examiner_of(session: Session, actor: Actor, attempt: Attempt) -> None:
    if attempt.course_id is not None:
        check_separation(session, actor, scheduling.get_course(session, attempt.course_id))
    if attempt.recorded_by is not None and attempt.recorded_by != actor.user_id:
        raise NotPermitted(
            "只有开始评分的考评员能修改这份评分表",
            "only the examiner who opened this checklist may mark it",
            code="not_own_checklist",
        )


def save_marks(session: Session, actor: Actor, attempt_id: int, raw: list[Any]) -> Attempt:
    """Replace a draft's marks (all the items marked so far); refused once signed."""
    attempt = get_attempt(session, attempt_id, lock=True)
    if attempt.part != PRACTICAL:
        raise Conflict("这不是实操考核", "this is not a practical exam", code="not_practical")
    if attempt.status != AttemptStatus.draft:
        raise Conflict(
            "评分表已签字，不能修改；请提交更正",
            "the checklist is signed and cannot change; submit a correction",
            code="attempt_final",
        )
    _examiner_of(session, actor, attempt)
    marks = _marks(raw)
    blueprint = blueprint_of(attempt.curriculum_code, attempt.curriculum_version)
    _check_partial(blueprint, marks, _rule_of(attempt))
    attempt.marks = json.dumps([m.to_dict() for m in marks], ensure_ascii=False)
    session.add(attempt)
    session.commit()
    session.refresh(attempt)
    return attempt


def _check_partial(blueprint: PracticalBlueprint, marks: list[ItemMark], rule: PartRule) -> None:
    """Every mark valid on its own (the checklist may still be incomplete)."""
    try:
        grade_practical(blueprint, _complete(blueprint, marks), rule=rule)
    except InvalidMarks as exc:
        raise InvalidInput(exc.zh, exc.en, code=exc.code, details=exc.details) from exc


def _complete(blueprint: PracticalBlueprint, marks: list[ItemMark]) -> list[ItemMark]:
    """The marks given, and every unmarked item as if done perfectly (for the "at most" total)."""
    given = {m.item for m in marks}
    rest = [ItemMark(i.code) for s in blueprint.subjects for i in s.items if i.code not in given]
    return [*marks, *rest]


@dataclass(frozen=True)
class Preview:
    """What the examiner sees while marking: complete or not, the total, the veto outcome."""

    complete: bool
    missing: list[str]
    total: str  # the total if complete; else the most the trainee can still reach
    passed: bool | None  # None until complete, unless a veto item already failed it
    veto_failed: list[dict[str, Any]]
    result: dict[str, Any]


def preview(attempt: Attempt) -> Preview:
    blueprint = blueprint_of(attempt.curriculum_code, attempt.curriculum_version)
    marks = _marks(json.loads(attempt.marks or "[]"))
    rule = _rule_of(attempt)
    given = {m.item for m in marks}
    missing = [i.code for s in blueprint.subjects for i in s.items if i.code not in given]
    grade: PracticalGrade = grade_practical(blueprint, _complete(blueprint, marks), rule=rule)
    veto = [v.to_dict() for v in grade.result.veto]
    if missing:
        passed = False if veto or grade.result.exact < grade.result.pass_mark else None
    else:
        passed = grade.result.passed
    return Preview(
        complete=not missing,
        missing=missing,
        total=str(recorded(grade.result.exact)),
        passed=passed,
        veto_failed=veto,
        result=grade.to_dict(),
    )


def _rule_of(attempt: Attempt) -> PartRule:
    for rs in catalogue().rule_sets:
        if rs.code == attempt.rule_set:
            return rs.practical
    return rule_set_on(catalogue().rule_sets, attempt.taken_at.astimezone(LOCAL).date()).practical


def sign(
    session: Session, actor: Actor, attempt_id: int, *, now: dt.datetime | None = None
) -> Attempt:
    """Grade and sign a complete checklist: the attempt is final from now on."""
    now = now or utcnow()
    attempt = get_attempt(session, attempt_id, lock=True)
    if attempt.status != AttemptStatus.draft:
        raise Conflict("评分表已签字", "the checklist is already signed", code="attempt_final")
    _examiner_of(session, actor, attempt)
    blueprint = blueprint_of(attempt.curriculum_code, attempt.curriculum_version)
    marks = _marks(json.loads(attempt.marks or "[]"))
    try:
        grade = grade_practical(blueprint, marks, rule=_rule_of(attempt))
    except InvalidMarks as exc:
        raise InvalidInput(exc.zh, exc.en, code=exc.code, details=exc.details) from exc
    _finish(attempt, grade, actor, now)
    session.add(attempt)
    audit.record(
        session,
        actor,
        "attempt.sign",
        "attempt",
        attempt.id,
        before={"status": AttemptStatus.draft.value},
        after={
            "status": AttemptStatus.final.value,
            "score": attempt.score,
            "passed": attempt.passed,
            "veto_failed": attempt.veto_failed,
        },
    )
    session.commit()
    session.refresh(attempt)
    return attempt


def _finish(attempt: Attempt, grade: PracticalGrade, actor: Actor, now: dt.datetime) -> None:
    attempt.status = AttemptStatus.final
    attempt.score = str(recorded(grade.result.exact))
    attempt.passed = grade.result.passed
    attempt.veto_failed = ",".join(v.item for v in grade.result.veto)
    attempt.result = json.dumps(grade.to_dict(), ensure_ascii=False)
    attempt.signed_by = actor.user_id
    attempt.signed_at = now


def cosign(
    session: Session, actor: Actor, attempt_id: int, *, now: dt.datetime | None = None
) -> Attempt:
    """A second examiner co-signs a signed checklist (never the one who signed it)."""
    now = now or utcnow()
    attempt = get_attempt(session, attempt_id, lock=True)
    if attempt.part != PRACTICAL or attempt.status != AttemptStatus.final:
        raise Conflict(
            "只能会签已签字的实操评分表",
            "only a signed practical checklist can be co-signed",
            code="not_signed",
        )
    if attempt.signed_by == actor.user_id:
        raise NotPermitted(
            "会签须由另一位考评员", "the co-signer must be another examiner", code="same_examiner"
        )
    if attempt.cosigned_by is not None:
        raise Conflict("已有会签", "the checklist is already co-signed", code="already_cosigned")
    if attempt.course_id is not None:
        check_separation(session, actor, scheduling.get_course(session, attempt.course_id))
    attempt.cosigned_by, attempt.cosigned_at = actor.user_id, now
    session.add(attempt)
    audit.record(
        session,
        actor,
        "attempt.cosign",
        "attempt",
        attempt.id,
        after={"cosigned_by": actor.user_id},
    )
    session.commit()
    session.refresh(attempt)
    return attempt


def practical_attempts_of_course(session: Session, course_id: int) -> list[Attempt]:
    """Every practical attempt of the course (drafts, final and superseded), oldest first."""
    return list(
        session.exec(
            select(Attempt)
            .where(Attempt.course_id == course_id, Attempt.part == PRACTICAL)
            .order_by(col(Attempt.id))
        ).all()
    )
