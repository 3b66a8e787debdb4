"""The kiosk's progress pages: per course the hours done, every final attempt and what is left.

What is left comes from the certification decision's own reasons (server.assessment.decisions,
scoring.decisions): each reason becomes one plain sentence; no rule is decided here again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from kiosk.pages import KioskTraineeDep, kiosk_allow, language, render
from scoring.decisions import CertificationDecision, HoursLine, PartDecision, PartState
from scoring.reasons import Reason, ReasonCode
from scoring.results import part_names
from server.assessment import attempts, decisions
from server.assessment.attempt_routes import attempt_public
from server.assessment.models import Attempt, AttemptStatus
from server.assessment.sittings import curriculum_of
from server.certificates import lookups
from server.certificates import service as certificates
from server.config import Settings
from server.deps import SessionDep, SettingsDep
from server.errors import NotFound, SafetrainError
from server.scheduling.models import Course

router = APIRouter(prefix="/kiosk")

# The overview shows each course's newest attempts; the course's own page shows all of them.
NEWEST_ON_OVERVIEW = 5

Names = tuple[str, str]

# The sentence for a part the decision says is not passed yet, by the part's state.
LEFT_OF_STATE = {
    PartState.not_attempted: "kp_left_not_attempted",
    PartState.may_retake: "kp_left_retake",
    PartState.pass_expired: "kp_left_pass_expired",
    PartState.must_retrain: "kp_left_retrain",
    PartState.must_reregister_theory: "kp_left_reregister",
}


@dataclass(frozen=True)
class Left:
    """One thing still to do before the certificate: a sentence (key, values; no key: the
    reason's own words), the decision's reason it comes from, and the reasons worth reading
    under it (scoring's own words)."""

    key: str
    reason: Reason
    details: tuple[Reason, ...]
    part: Names | None = None
    hours: str = ""
    sittings: int | None = None


@dataclass(frozen=True)
class AttemptLine:
    part: Names
    taken_at: str  # local date and time
    score: str | None
    pass_mark: str | None
    passed: bool | None
    corrected: bool
    reasons: list[dict[str, str]]


@dataclass(frozen=True)
class IssuedCertificate:
    number: str
    standing: Names


@dataclass
class CourseProgress:
    course: Course
    curriculum_title: Names
    category: Names | None
    decision: CertificationDecision | None
    unavailable: SafetrainError | None  # the decision could not be made (a trainer must look)
    left: list[Left]
    certificate: IssuedCertificate | None
    attempts: list[AttemptLine] = field(default_factory=list)

    @property
    def hours(self) -> tuple[HoursLine, ...]:
        return self.decision.hours if self.decision else ()


def hours_done(minutes: int) -> str:
    """Credited minutes as hours, rounded down to 0.1: 15 h 59 min is not yet 16."""
    tenths = minutes * 10 // 60
    return f"{tenths // 10}" if tenths % 10 == 0 else f"{tenths / 10:.1f}"


def hours_needed(minutes: int) -> str:
    """Minutes still needed as hours, rounded up to 0.1: one minute short still says 0.1."""
    tenths = math.ceil(minutes * 10 / 60)
    return f"{tenths // 10}" if tenths % 10 == 0 else f"{tenths / 10:.1f}"


def what_is_left(decision: CertificationDecision, titles: dict[str, Names]) -> list[Left]:
    """One sentence per reason of the decision, in the decision's order. The hours reasons are
    said for the kinds the decision found short, the part reasons for the parts it found not
    passed, each in the order scoring gives them (scoring.decisions.decide_certification)."""
    short = iter(h for h in decision.hours if not h.complete)
    unpassed: list[PartDecision] = [p for p in decision.parts if not p.passed]
    open_parts = iter(unpassed)
    out: list[Left] = []
    for reason in decision.reasons:
        if reason.code == ReasonCode.hours_short:
            line = next(short)
            out.append(
                Left(
                    f"kp_left_hours_{line.kind.value}",
                    reason,
                    (reason,),
                    hours=hours_needed(line.required_minutes - line.credited_minutes),
                )
            )
        elif reason.code == ReasonCode.part_not_passed:
            part = next(open_parts)
            key = LEFT_OF_STATE[part.state]
            if part.state is PartState.may_retake and part.attempts_left is None:
                key = "kp_left_retake_unlimited"
            # Why the part stands where it stands (the last score, sittings left); a part not
            # taken yet needs no more words than the sentence.
            why = () if part.state is PartState.not_attempted else part.reasons
            out.append(Left(key, reason, why, part=titles[part.part], sittings=part.attempts_left))
        elif reason.code == ReasonCode.ready_to_certify:
            out.append(Left("kp_left_ready", reason, (reason,)))
        else:  # a reason this page has no sentence for yet: scoring's words say it
            out.append(Left("", reason, ()))
    return out


def _part_titles(course: Course) -> dict[str, Names]:
    curriculum = curriculum_of(course.curriculum_code)
    titles = {"theory": part_names("theory"), "practical": part_names("practical")}
    for s in curriculum.scenarios:
        titles[f"device:{s.code}"] = part_names(f"device:{s.code}", s.title)
    return titles


def _issued(session: Session, trainee_id: int, course_id: int) -> IssuedCertificate | None:
    cert = certificates.original_of(session, trainee_id, course_id)
    if cert is None:
        return None
    while (newer := certificates.successor_of(session, cert)) is not None:
        cert = newer  # a re-issue after renewal is the one that counts
    standing = certificates.standing(cert, certificates.today())
    return IssuedCertificate(cert.number, certificates.STANDING_TEXT[standing])


def _attempt_line(a: Attempt, titles: dict[str, Names], settings: Settings) -> AttemptLine:
    shown = attempt_public(a, for_trainee=True)
    mark = shown.result.get("pass_mark")
    return AttemptLine(
        part=titles.get(a.part) or part_names(a.part),
        taken_at=a.taken_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
        score=shown.score,
        pass_mark=str(mark) if mark is not None else None,
        passed=shown.passed,
        corrected=shown.supersedes_id is not None,
        reasons=[r for r in shown.result.get("reasons", []) if r.get("zh") and r.get("en")],
    )


def course_progress(
    session: Session, settings: Settings, trainee_id: int, course: Course, mine: list[Attempt]
) -> CourseProgress:
    """Where the trainee stands in one course: hours, what is left, attempts newest first."""
    assert course.id is not None
    curriculum = curriculum_of(course.curriculum_code)
    titles = _part_titles(course)
    decision: CertificationDecision | None = None
    unavailable: SafetrainError | None = None
    try:
        decision = decisions.certification(
            session, decisions.policy_of(settings), trainee_id, course.id
        )
    except SafetrainError as exc:  # a history the rules could not produce: shown, not guessed
        unavailable = exc
    category = curriculum.operation_category
    newest = sorted(
        (a for a in mine if a.course_id == course.id and a.status == AttemptStatus.final),
        key=lambda a: (a.taken_at, a.id or 0),
        reverse=True,
    )
    return CourseProgress(
        course=course,
        curriculum_title=(curriculum.title.zh, curriculum.title.en),
        category=(category.title.zh, category.title.en) if category else None,
        decision=decision,
        unavailable=unavailable,
        left=what_is_left(decision, titles) if decision else [],
        certificate=_issued(session, trainee_id, course.id),
        attempts=[_attempt_line(a, titles, settings) for a in newest],
    )


def _context(request: Request, me: KioskTraineeDep, **extra: object) -> dict[str, object]:
    en = language(request) == "en"

    def pick(pair: Names | None) -> str:
        return "" if pair is None else pair[1] if en else pair[0]

    return {"me": me, "kiosk": me.kiosk, "pick": pick, "hours_done": hours_done} | extra


@router.get("/progress", **kiosk_allow("trainee"))
def progress(
    request: Request, session: SessionDep, settings: SettingsDep, me: KioskTraineeDep
) -> Response:
    """My courses: hours per kind, what is left before the certificate, the newest attempts."""
    assert me.trainee.id is not None
    mine = attempts.history(session, me.trainee.id)
    courses = [
        course_progress(session, settings, me.trainee.id, c, mine)
        for c in lookups.enrolled_courses(session, me.trainee.id)
    ]
    context = _context(request, me, courses=courses, newest=NEWEST_ON_OVERVIEW, whole=False)
    return render(request, "progress.html", context, idle="session")


@router.get("/progress/{course_id}", **kiosk_allow("trainee"))
def course_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: KioskTraineeDep,
    course_id: int,
) -> Response:
    """One of my courses in full: every final attempt, newest first."""
    assert me.trainee.id is not None
    course = next(
        (c for c in lookups.enrolled_courses(session, me.trainee.id) if c.id == course_id), None
    )
    if course is None:  # not mine, or no such course: the same answer
        raise NotFound(
            f"班级 {course_id} 不存在",
            f"course {course_id} does not exist",
            code="course_not_found",
        )
    mine = attempts.history(session, me.trainee.id)
    one = course_progress(session, settings, me.trainee.id, course, mine)
    context = _context(request, me, courses=[one], newest=None, whole=True)
    return render(request, "progress.html", context, idle="session")
