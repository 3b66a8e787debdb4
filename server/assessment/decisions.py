"""Where a trainee stands in a course: each part's decision and readiness to be certified.

A part's history is the trainee's final attempts of that part in this course: enrolling in a
new course of the curriculum (retraining, registering again) starts a new history, as the
regulation's "retrain" and "re-register" mean. The decisions themselves are scoring's
(`scoring.decisions`), under the rule set in force on each date; the server only gathers the
facts and refuses a sitting the decision does not allow.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from sqlmodel import Session, col, select

from curricula import catalogue
from curricula.model import ModuleKind
from scoring import decisions as rules
from scoring.decisions import CertificationDecision, PartDecision, Policy
from scoring.errors import InconsistentHistory
from server.assessment.models import Attempt, AttemptStatus
from server.assessment.sittings import LOCAL, curriculum_of
from server.config import Settings
from server.errors import Conflict
from server.scheduling import attendance
from server.scheduling import service as scheduling
from server.scheduling.models import Course

KIND_OF_SESSION = {
    "theory": ModuleKind.theory,
    "practical": ModuleKind.practical,
    "vr": ModuleKind.vr,
    "rig": ModuleKind.rig,
}


def policy_of(settings: Settings) -> Policy:
    return Policy(passing_score_valid_months=settings.passing_score_valid_months)


def may_sit(
    session: Session, policy: Policy, course: Course, key: str
) -> Callable[[int, dt.date], tuple[bool, str, list[dict[str, str]]]]:
    """A check for `sittings.open_sitting`: may this trainee sit this part on that day?"""

    def check(trainee_id: int, day: dt.date) -> tuple[bool, str, list[dict[str, str]]]:
        decision = part(session, policy, trainee_id, course, key, day)
        why = [{"code": str(r.code), "zh": r.zh, "en": r.en} for r in decision.reasons]
        return decision.may_sit, decision.state.value, why

    return check


def today() -> dt.date:
    return dt.datetime.now(LOCAL).date()


def histories(session: Session, trainee_id: int, course: Course) -> dict[str, list[rules.Attempt]]:
    rows = session.exec(
        select(Attempt)
        .where(
            Attempt.trainee_id == trainee_id,
            Attempt.course_id == course.id,
            Attempt.status == AttemptStatus.final,
        )
        .order_by(col(Attempt.taken_at), col(Attempt.id))
    ).all()
    out: dict[str, list[rules.Attempt]] = defaultdict(list)
    for a in rows:
        if a.score is None or a.passed is None:
            continue
        out[a.part].append(
            rules.Attempt(a.taken_at.astimezone(LOCAL).date(), Decimal(a.score), a.passed)
        )
    return dict(out)


def credited_minutes(session: Session, trainee_id: int, course: Course) -> dict[ModuleKind, int]:
    for line in attendance.progress(session, course):
        if line.trainee_id == trainee_id:
            return {KIND_OF_SESSION[k.kind.value]: k.credited_minutes for k in line.kinds}
    return {}


def certification(
    session: Session, policy: Policy, trainee_id: int, course_id: int, on: dt.date | None = None
) -> CertificationDecision:
    """Every part's decision and whether the trainee is ready to be certified on `on`."""
    course = scheduling.get_course(session, course_id)
    curriculum = curriculum_of(course.curriculum_code)
    try:
        return rules.decide_certification(
            curriculum,
            histories=histories(session, trainee_id, course),
            credited_minutes=credited_minutes(session, trainee_id, course),
            rule_sets=catalogue().rule_sets,
            policy=policy,
            on=on or today(),
        )
    except InconsistentHistory as exc:
        raise Conflict(exc.zh, exc.en, code=exc.code, details=exc.details) from exc


def part(
    session: Session, policy: Policy, trainee_id: int, course: Course, key: str, on: dt.date
) -> PartDecision:
    """One part's decision (theory, practical or device:<scenario>) on a day."""
    curriculum = curriculum_of(course.curriculum_code)
    title = None
    if key.startswith("device:"):
        title = curriculum.scenario(key.removeprefix("device:")).title
    try:
        return rules.decide_part(
            key,
            histories(session, trainee_id, course).get(key, ()),
            rule_sets=catalogue().rule_sets,
            policy=policy,
            on=on,
            title=title,
        )
    except InconsistentHistory as exc:
        raise Conflict(exc.zh, exc.en, code=exc.code, details=exc.details) from exc
