"""Console pages for theory exams: courses with their sittings, opening a sitting (with who the
decision leaves out and why), following each trainee's progress live, closing it early."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from curricula import catalogue
from scoring.results import THEORY
from server.accounts.models import Role
from server.assessment import decisions, sittings, views
from server.assessment.models import ExamSitting, SittingStatus
from server.assessment.sittings import LOCAL, SittingPlan
from server.console.assessment_results import (
    STATE_TAGS,
    part_state,
    passed_words,
    reasons_in,
)
from server.console.pages import ConsoleLogin, ConsoleLoginDep, console_allow, language, render
from server.console.schedule import (
    STAFF_PAGES,
    FormReader,
    Submitted,
    _message,
    _submitted,
    _translator,
    _tz,
)
from server.db import utcnow
from server.deps import SessionDep, SettingsDep
from server.errors import NotFound, NotPermitted, SafetrainError
from server.scheduling import enrolment
from server.scheduling import service as scheduling
from server.scheduling.models import Course, EnrolmentStatus

router = APIRouter(prefix="/console")
EXAMINER_PAGES = console_allow(Role.examiner)
EXAMINER_FORMS = console_allow(Role.examiner, form=True)
CORRECTOR_FORMS = console_allow(Role.examiner, Role.admin, form=True)
PAGE_SIZE = 50
DONE_NOTICES = frozenset({"opened", "closed", "saved", "signed", "cosigned", "corrected"})


def _notice(done: str | None) -> str | None:
    return done if done in DONE_NOTICES else None


def _refusal(request: Request, session: Session, login: ConsoleLogin, course: Course) -> str | None:
    if login.role is not Role.examiner:
        return None
    try:
        sittings.check_separation(session, login.actor, course)
    except NotPermitted as exc:
        return _message(request, exc)
    return None


def _today() -> dt.date:
    return dt.datetime.now(LOCAL).date()


@dataclass(frozen=True)
class LeftOut:
    trainee_id: int
    name: str
    state: str
    tag: str
    reasons: list[str]


def _left_out(
    request: Request,
    session: Session,
    settings: Any,
    course: Course,
    day: dt.date,
    skip: set[int],
) -> list[LeftOut]:
    """Enrolled trainees the decision does not let sit the theory exam on `day`, and why."""
    assert course.id is not None
    t, lang = _translator(request), language(request)
    policy = decisions.policy_of(settings)
    out = []
    for row, trainee, _ in enrolment.roster(session, course.id):
        if row.status != EnrolmentStatus.enrolled or trainee.id in skip:
            continue
        assert trainee.id is not None
        try:
            decision = decisions.part(session, policy, trainee.id, course, THEORY, day)
        except SafetrainError as exc:
            out.append(
                LeftOut(
                    trainee.id,
                    trainee.name,
                    t("as_history_problem"),
                    "bad",
                    [_message(request, exc)],
                )
            )
            continue
        if not decision.may_sit:
            out.append(
                LeftOut(
                    trainee.id,
                    trainee.name,
                    part_state(decision, t),
                    STATE_TAGS[decision.state],
                    reasons_in(decision.reasons, lang),
                )
            )
    return out


# --- the exams list ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SittingLine:
    id: int
    opens_at: str
    closes_at: str
    state: str
    state_label: str
    papers: int
    graded: int


def _sitting_state(sitting: ExamSitting, now: dt.datetime) -> str:
    if sitting.status == SittingStatus.closed:
        return "closed"
    return "not_open" if now < sitting.opens_at else "open"


@router.get("/exams", **STAFF_PAGES)
def exams(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Courses with their theory sittings, and the way to open one or mark practicals."""
    lang, t, now = language(request), _translator(request), utcnow()
    sittings.grade_due(session, now=now)
    courses, count = scheduling.list_courses(
        session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    by_course = sittings.sittings_of_courses(session, [c.id for c in courses if c.id])
    counts = sittings.paper_counts(session, [s.id for ss in by_course.values() for s in ss if s.id])
    local = _local(request)
    lines: dict[int, list[SittingLine]] = {}
    for course_id, rows in by_course.items():
        lines[course_id] = []
        for s in rows:
            assert s.id is not None
            state = _sitting_state(s, now)
            papers, graded = counts.get(s.id, (0, 0))
            lines[course_id].append(
                SittingLine(
                    s.id,
                    local(s.opens_at),
                    local(s.closes_at),
                    state,
                    t(f"as_sitting_{state}"),
                    papers,
                    graded,
                )
            )
    titles = {c.code: c.title.get(lang) for c in catalogue().curricula.values()}
    return render(
        request,
        "assessment/exams.html",
        {
            "courses": courses,
            "count": count,
            "titles": titles,
            "sittings": lines,
            "is_examiner": login.role is Role.examiner,
            "page": page,
            "pages": max(1, (count + PAGE_SIZE - 1) // PAGE_SIZE),
        },
        login=login,
    )


def _local(request: Request) -> Any:
    tz = _tz(request)
    return lambda v: v.astimezone(tz).strftime("%Y-%m-%d %H:%M") if v else ""


# --- opening a theory sitting ------------------------------------------------------------------


def _sitting_form_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    course: Course,
    *,
    form: Submitted | None = None,
    errors: dict[str, str] | None = None,
    refused: list[LeftOut] | None = None,
    status_code: int = 200,
) -> Response:
    lang = language(request)
    curriculum = sittings.curriculum_of(course.curriculum_code)
    theory = curriculum.assessment.theory
    settings = request.app.state.settings
    left_out = (
        refused
        if refused is not None
        else _left_out(request, session, settings, course, _today(), set())
    )
    enrolled = scheduling.enrolled_ids(session, course.id or 0)
    return render(
        request,
        "assessment/sitting_new.html",
        {
            "course": course,
            "curriculum": curriculum.title.get(lang),
            "theory": theory,
            "form": form or Submitted({"when": ["now"], "late_start_minutes": ["30"]}),
            "errors": errors or {},
            "left_out": left_out,
            "sitting_count": len(enrolled) - len(left_out),
            "enrolled_count": len(enrolled),
        },
        login=login,
        status_code=status_code,
    )


@router.get("/courses/{course_id}/sittings/new", **EXAMINER_PAGES)
def sitting_new(
    request: Request, session: SessionDep, login: ConsoleLoginDep, course_id: int
) -> Response:
    """The form to open a theory sitting, with the trainees the decision leaves out and why."""
    course = scheduling.get_course(session, course_id)
    sittings.check_separation(session, login.actor, course)
    return _sitting_form_page(request, session, login, course)


@router.post("/courses/{course_id}/sittings", **EXAMINER_FORMS)
async def sitting_open(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    course_id: int,
) -> Response:
    """Open a theory sitting now or at a set time; each trainee allowed to sit gets a paper."""
    course = scheduling.get_course(session, course_id)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    when = form.get("when", "now")
    if when not in ("now", "at"):
        read.fail("when", "err_choice")
    opens_at = read.moment("opens_at", _tz(request)) if when == "at" else None
    if when == "at" and opens_at is None and "opens_at" not in read.errors:
        read.fail("opens_at", "err_required")
    late = read.integer("late_start_minutes")
    if late is not None and not 0 <= late <= 240:
        read.fail("late_start_minutes", "err_out_of_range")
    if read.errors:
        errors = {"_": read.t("err_form"), **read.errors}
        return _sitting_form_page(
            request, session, login, course, form=form, errors=errors, status_code=422
        )
    check = decisions.may_sit(session, decisions.policy_of(settings), course, THEORY)
    try:
        sitting, _ = sittings.open_sitting(
            session,
            login.actor,
            course_id,
            SittingPlan(opens_at=opens_at, late_start_minutes=late or 0),
            may_sit=check,
        )
    except SafetrainError as exc:
        if isinstance(exc, NotFound | NotPermitted):
            raise
        session.rollback()
        errors = {"_": _message(request, exc)}
        if isinstance(exc.details, list):
            for detail in exc.details:
                if detail.get("field") == "late_start_minutes":
                    errors["late_start_minutes"] = errors["_"]
        return _sitting_form_page(
            request, session, login, course, form=form, errors=errors, status_code=exc.status
        )
    return RedirectResponse(f"/console/sittings/{sitting.id}?done=opened", status_code=303)


# --- following a sitting -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressLine:
    trainee_id: int
    name: str
    status: str
    status_label: str
    answered: int
    questions: int
    time_left: str
    score: str
    passed: str
    passed_ok: bool | None
    handed_in: bool


def _time_left(deadline: dt.datetime | None, now: dt.datetime) -> str:
    if deadline is None:
        return ""
    seconds = max(0, int((deadline - now).total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _sitting_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    sitting_id: int,
    *,
    confirm: bool = False,
    done: str | None = None,
) -> Response:
    t, now = _translator(request), utcnow()
    sittings.grade_due(session, now=now)
    sitting = sittings.get_sitting(session, sitting_id)
    course = scheduling.get_course(session, sitting.course_id)
    detail = views.sitting_detail(session, sitting, now)
    lines = [
        ProgressLine(
            trainee_id=p.trainee_id,
            name=p.trainee_name,
            status=p.status,
            status_label=t(f"as_paper_{p.status}"),
            answered=p.answered,
            questions=p.questions,
            time_left=_time_left(p.deadline, now) if p.status == "in_progress" else "",
            score=p.score or "",
            passed=passed_words(p.passed, t),
            passed_ok=p.passed,
            handed_in=p.submitted_at is not None,
        )
        for p in detail.progress
    ]
    have_paper = {p.trainee_id for p in detail.progress}
    day = sitting.opens_at.astimezone(LOCAL).date()
    left_out = _left_out(request, session, request.app.state.settings, course, day, have_paper)
    refusal = _refusal(request, session, login, course)
    state = _sitting_state(sitting, now)
    local = _local(request)
    return render(
        request,
        "assessment/sitting_close.html" if confirm else "assessment/sitting.html",
        {
            "sitting": sitting,
            "course": course,
            "state": state,
            "state_label": t(f"as_sitting_{state}"),
            "opens_at": local(sitting.opens_at),
            "closes_at": local(sitting.closes_at),
            "lines": lines,
            "counts": Counter(line.status for line in lines),
            "left_out": left_out,
            "live": sitting.status == SittingStatus.open,
            "can_close": login.role is Role.examiner
            and sitting.status == SittingStatus.open
            and refusal is None,
            "refusal": refusal,
            "updated": now.astimezone(_tz(request)).strftime("%H:%M:%S"),
            "done": _notice(done),
        },
        login=login,
    )


@router.get("/sittings/{sitting_id}", **STAFF_PAGES)
def sitting_page(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    sitting_id: int,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A sitting and each trainee's progress; the page refreshes itself while it is open."""
    return _sitting_page(request, session, login, sitting_id, done=done)


@router.get("/sittings/{sitting_id}/close", **EXAMINER_PAGES)
def sitting_close_confirm(
    request: Request, session: SessionDep, login: ConsoleLoginDep, sitting_id: int
) -> Response:
    """Ask before ending a sitting early: who has not handed in yet."""
    return _sitting_page(request, session, login, sitting_id, confirm=True)


@router.post("/sittings/{sitting_id}/close", **EXAMINER_FORMS)
async def sitting_close(
    request: Request, session: SessionDep, login: ConsoleLoginDep, sitting_id: int
) -> Response:
    """End a sitting now: every paper is graded with the answers given so far."""
    sittings.close_sitting(session, login.actor, sitting_id)
    return RedirectResponse(f"/console/sittings/{sitting_id}?done=closed", status_code=303)
