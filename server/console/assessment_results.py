"""Console pages for results: where each trainee of a course stands, every attempt of a trainee
with its versions, the item-analysis report of a curriculum, and device results to attribute."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from curricula import catalogue
from scoring.decisions import CertificationDecision, PartDecision, PartState
from scoring.results import PRACTICAL, THEORY, part_names
from server.accounts.models import Role
from server.assessment import attempts, decisions, item_report
from server.assessment.device_attempts import scenario_of
from server.assessment.models import Attempt, AttemptStatus
from server.assessment.sittings import curriculum_of
from server.certificates import lookups as certificate_lookups
from server.console.pages import ConsoleLogin, ConsoleLoginDep, language, render
from server.console.schedule import (
    PLANNER_FORMS,
    PLANNER_PAGES,
    PLANNERS,
    STAFF_PAGES,
    FormReader,
    Submitted,
    Translate,
    _message,
    _submitted,
    _translator,
    _tz,
    _when,
)
from server.deps import SessionDep
from server.devices import bindings, ingest
from server.errors import NotFound, SafetrainError
from server.scheduling import enrolment
from server.scheduling import service as scheduling
from server.scheduling.models import EnrolmentStatus, SessionKind
from server.trainees import service as trainees
from server.trainees.identity import mask_id_number

router = APIRouter(prefix="/console")
CORRECTORS = frozenset({Role.examiner, Role.admin})
PAGE_SIZE = 50
# Notices a page shows after a redirect, by the key in ?done=; anything else is ignored.
DONE_NOTICES = frozenset({"corrected", "assigned"})

# How a part's state reads, and the tag it wears (the words carry the meaning, not the colour).
STATE_TAGS = {
    PartState.passed: "ok",
    PartState.pass_expired: "warn",
    PartState.may_retake: "warn",
    PartState.must_retrain: "bad",
    PartState.must_reregister_theory: "bad",
    PartState.not_attempted: "",
}


def _notice(done: str | None) -> str | None:
    return done if done in DONE_NOTICES else None


def part_label(part: str, curriculum_code: str, lang: str) -> str:
    """A part's name as a person reads it: 理论考试, 实际操作考试, 考核项目「…」."""
    title = None
    if part.startswith("device:"):
        found = catalogue().get(curriculum_code)
        code = part.removeprefix("device:")
        if found is not None and any(s.code == code for s in found.scenarios):
            title = found.scenario(code).title
    zh, en = part_names(part, title)
    return en if lang == "en" else zh


def part_state(decision: PartDecision, t: Translate) -> str:
    """The state of one part in words: passed, may retake with the attempts left, …"""
    state = decision.state
    if state is PartState.passed:
        if decision.valid_until is not None:
            return t("as_state_passed_until", day=decision.valid_until.isoformat())
        return t("as_state_passed")
    if state is PartState.may_retake:
        if decision.attempts_left is None:
            return t("as_state_may_retake_unlimited")
        return t("as_state_may_retake", n=decision.attempts_left)
    return t(f"as_state_{state.value}")


def passed_words(passed: bool | None, t: Translate) -> str:
    """合格 / 不合格 (passed / failed), or nothing before there is a result."""
    if passed is None:
        return ""
    return t("as_passed") if passed else t("as_failed")


def reasons_in(items: Any, lang: str) -> list[str]:
    """Reasons ({code, zh, en} or scoring's Reason) in the page's language."""
    out = []
    for r in items:
        zh, en = (r["zh"], r["en"]) if isinstance(r, dict) else (r.zh, r.en)
        out.append(en if lang == "en" else zh)
    return out


# --- an attempt as a line of history -----------------------------------------------------------


@dataclass(frozen=True)
class AttemptLine:
    """One attempt as the history tables show it (superseded versions included)."""

    id: int
    part: str
    part_label: str
    version: int
    status: str
    status_label: str
    superseded: bool
    draft: bool
    taken_at: str
    score: str
    passed: str
    veto: list[str]
    signed_by: str
    signed_at: str
    cosigned_by: str
    cosigned_at: str
    correction_reason: str
    source: str
    correctable_by_score: bool  # a theory or device attempt that stands: corrected by its score


def attempt_lines(
    request: Request, session: Session, rows: list[Attempt], t: Translate
) -> list[AttemptLine]:
    lang = language(request)
    names = scheduling.user_names(
        session, [u for a in rows for u in (a.signed_by, a.cosigned_by) if u is not None]
    )
    lines = []
    for a in rows:
        assert a.id is not None
        result: dict[str, Any] = json.loads(a.result or "{}")
        veto = [
            v.get("en" if lang == "en" else "zh") or v.get("item", "")
            for v in result.get("veto", [])
        ]
        if not veto and a.veto_failed:
            veto = [v for v in a.veto_failed.split(",") if v]
        status = str(a.status)
        passed = passed_words(a.passed, t)
        lines.append(
            AttemptLine(
                id=a.id,
                part=a.part,
                part_label=part_label(a.part, a.curriculum_code, lang),
                version=a.version,
                status=status,
                status_label=t(f"as_attempt_{status}"),
                superseded=a.status == AttemptStatus.superseded,
                draft=a.status == AttemptStatus.draft,
                taken_at=_when(a.taken_at, _tz(request)),
                score=a.score or "",
                passed=passed,
                veto=veto,
                signed_by=names.get(a.signed_by, "") if a.signed_by else "",
                signed_at=_when(a.signed_at, _tz(request)),
                cosigned_by=names.get(a.cosigned_by, "") if a.cosigned_by else "",
                cosigned_at=_when(a.cosigned_at, _tz(request)),
                correction_reason=a.correction_reason or "",
                source=t(f"as_source_{a.source}"),
                correctable_by_score=a.status == AttemptStatus.final and a.part != PRACTICAL,
            )
        )
    return lines


def version_chain(history: list[Attempt], attempt: Attempt) -> list[Attempt]:
    """Every version of one attempt, first to latest, from the trainee's history."""
    by_id = {a.id: a for a in history}
    first = attempt
    while first.supersedes_id is not None and first.supersedes_id in by_id:
        first = by_id[first.supersedes_id]
    successor = {a.supersedes_id: a for a in history if a.supersedes_id is not None}
    chain = [first]
    while chain[-1].id in successor:
        chain.append(successor[chain[-1].id])
    return chain


# --- hub: courses, curricula, device results ---------------------------------------------------


@router.get("/results", **STAFF_PAGES)
def results_hub(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Where results are read: each course's results, each curriculum's item analysis."""
    lang = language(request)
    courses, count = scheduling.list_courses(
        session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    unassigned = len(ingest.unassigned(session)) if login.role in PLANNERS else None
    curricula = [
        (c.code, c.title.get(lang))
        for c in sorted(catalogue().curricula.values(), key=lambda c: c.code)
        if c.assessment.theory is not None
    ]
    return render(
        request,
        "assessment/results.html",
        {
            "courses": courses,
            "count": count,
            "titles": {c.code: c.title.get(lang) for c in catalogue().curricula.values()},
            "curricula": curricula,
            "unassigned": unassigned,
            "page": page,
            "pages": max(1, (count + PAGE_SIZE - 1) // PAGE_SIZE),
        },
        login=login,
    )


# --- a course's results ------------------------------------------------------------------------


@dataclass(frozen=True)
class PartCell:
    state: str
    tag: str
    last: str


@dataclass(frozen=True)
class ResultRow:
    trainee_id: int
    name: str
    parts: list[PartCell]
    hours_complete: bool
    hours_short: list[str]
    ready: bool
    reasons: list[str]
    problem: str = ""  # a history the rules cannot read (named, never guessed at)


def _hours_text(decision: CertificationDecision, lang: str, t: Translate) -> list[str]:
    return [
        t(
            "as_hours_line",
            kind=SessionKind(h.kind.value).label(lang),
            credited=f"{h.credited_minutes / 60:.1f}".rstrip("0").rstrip("."),
            required=f"{h.required_minutes / 60:.1f}".rstrip("0").rstrip("."),
        )
        for h in decision.hours
        if not h.complete
    ]


def _last_score(decision: PartDecision, t: Translate) -> str:
    last = decision.last_attempt
    if last is None:
        return ""
    return t("as_last_score", score=str(last.score), day=last.day.isoformat())


def course_results_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    course_id: int,
    *,
    issued: str | None = None,
    refusal: tuple[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The course's results; `refusal` is (trainee id, message) of a certificate not issued."""
    lang, t = language(request), _translator(request)
    course = scheduling.get_course(session, course_id)
    curriculum = curriculum_of(course.curriculum_code)
    keys = [THEORY] if curriculum.assessment.theory else []
    keys += [PRACTICAL] if curriculum.assessment.practical else []
    keys += [f"device:{d.scenario}" for d in curriculum.assessment.device if d.required]
    policy = decisions.policy_of(request.app.state.settings)
    issued_to = certificate_lookups.of_course(session, course_id)
    rows = []
    for enrolled, trainee, _ in enrolment.roster(session, course_id):
        if enrolled.status != EnrolmentStatus.enrolled:
            continue
        assert trainee.id is not None
        try:
            found = decisions.certification(session, policy, trainee.id, course_id)
        except SafetrainError as exc:
            rows.append(
                ResultRow(
                    trainee.id, trainee.name, [], False, [], False, [], _message(request, exc)
                )
            )
            continue
        rows.append(
            ResultRow(
                trainee_id=trainee.id,
                name=trainee.name,
                parts=[
                    PartCell(part_state(p, t), STATE_TAGS[p.state], _last_score(p, t))
                    for p in found.parts
                ],
                hours_complete=all(h.complete for h in found.hours),
                hours_short=_hours_text(found, lang, t),
                ready=found.ready,
                reasons=reasons_in(found.reasons, lang),
            )
        )
    numbers = {tid: c.number for tid, c in issued_to.items()}
    refused = None
    if refusal is not None:
        refused = (refusal[0], next((r.name for r in rows if r.trainee_id == refusal[0]), ""))
    return render(
        request,
        "assessment/course_results.html",
        {
            "course": course,
            "curriculum": curriculum.title.get(lang),
            "part_labels": [part_label(k, curriculum.code, lang) for k in keys],
            "rows": rows,
            "ready_count": sum(1 for r in rows if r.ready),
            "certifies": curriculum.certificate.issues_certificate,
            "certificates": numbers,
            "can_issue": login.role in PLANNERS,
            # Only a number of this course's certificates is echoed back as "issued".
            "issued": issued if issued in numbers.values() else None,
            "refusal": refusal,
            "refused_name": refused[1] if refused else "",
        },
        login=login,
        status_code=status_code,
    )


@router.get("/courses/{course_id}/results", **STAFF_PAGES)
def course_results(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    course_id: int,
    issued: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Every enrolled trainee: each part's state in words, the last score, hours, ready or not."""
    return course_results_page(request, session, login, course_id, issued=issued)


# --- one trainee's results ---------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionPart:
    label: str
    state: str
    tag: str
    used: int
    left: str
    last: str
    reasons: list[str]


@dataclass
class Correction:
    """A score correction form shown again with what was typed and what was wrong."""

    attempt_id: int
    form: Submitted
    errors: dict[str, str] = field(default_factory=dict)


def trainee_results_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    trainee_id: int,
    course_id: int | None,
    *,
    correction: Correction | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    lang, t = language(request), _translator(request)
    trainee = trainees.get(session, trainee_id)
    history = attempts.history(session, trainee_id)
    course_ids = sorted({a.course_id for a in history if a.course_id is not None})
    if course_id is not None and course_id not in course_ids:
        course_ids.append(course_id)
    courses = scheduling.courses_by_id(session, course_ids)
    course = None
    if course_id is not None:
        course = courses.get(course_id) or scheduling.get_course(session, course_id)
        history = [a for a in history if a.course_id == course_id]
    decision = None
    problem = ""
    if course is not None and course.id is not None:
        policy = decisions.policy_of(request.app.state.settings)
        try:
            decision = decisions.certification(session, policy, trainee_id, course.id)
        except SafetrainError as exc:
            problem = _message(request, exc)
    parts = []
    if decision is not None and course is not None:
        parts = [
            DecisionPart(
                label=part_label(p.part, course.curriculum_code, lang),
                state=part_state(p, t),
                tag=STATE_TAGS[p.state],
                used=p.attempts_used,
                left=t("as_unlimited") if p.attempts_left is None else str(p.attempts_left),
                last=_last_score(p, t),
                reasons=reasons_in(p.reasons, lang),
            )
            for p in decision.parts
        ]
    return render(
        request,
        "assessment/trainee_results.html",
        {
            "trainee": trainee,
            "id_masked": mask_id_number(trainee.id_number),
            "course": course,
            "courses": sorted(courses.values(), key=lambda c: c.starts_on, reverse=True),
            "decision": decision,
            "problem": problem,
            "parts": parts,
            "hours": [
                (SessionKind(h.kind.value).label(lang), h)
                for h in (decision.hours if decision else ())
            ],
            "decision_reasons": reasons_in(decision.reasons, lang) if decision else [],
            "lines": attempt_lines(request, session, history, t),
            "can_correct": login.role in CORRECTORS,
            "correction": correction,
            "done": _notice(done),
        },
        login=login,
        status_code=status_code,
    )


@router.get("/trainees/{trainee_id}/results", **STAFF_PAGES)
def trainee_results(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    trainee_id: int,
    course: Annotated[int | None, Query()] = None,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A trainee's every attempt (versions, status, score, signers, reasons) and the decision."""
    return trainee_results_page(request, session, login, trainee_id, course, done=done)


# --- item analysis -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemLine:
    question_id: str
    topic: str
    type: str
    stem: str
    flags: list[str]
    responses: int
    difficulty: str
    point_biserial: str
    upper_lower: str
    blank: str
    options: str


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _item_line(row: item_report.ItemRow, lang: str) -> ItemLine:
    s = row.stats
    return ItemLine(
        question_id=s.question_id,
        topic=row.topic,
        type=row.type,
        stem=row.stem_en if lang == "en" else row.stem_zh,
        flags=[
            item_report.FLAG_TEXT.get(f.value, (f.value, f.value))[1 if lang == "en" else 0]
            for f in s.flags
        ],
        responses=s.responses,
        difficulty=_number(s.difficulty),
        point_biserial=_number(s.point_biserial),
        upper_lower=_number(s.upper_lower),
        blank="" if s.blank is None else str(s.blank),
        options=" · ".join(f"{k}: {v}" for k, v in (s.option_counts or {}).items()),
    )


@router.get("/curricula/{code}/items", **STAFF_PAGES)
def item_analysis(
    request: Request, session: SessionDep, login: ConsoleLoginDep, code: str
) -> Response:
    """The item-analysis report: KR-20, papers, flagged questions first, then every question."""
    lang = language(request)
    report = item_report.build(session, code.upper())
    curriculum = curriculum_of(report.curriculum_code)
    return render(
        request,
        "assessment/items.html",
        {
            "report": report,
            "title": curriculum.title.get(lang),
            "kr20": "—" if report.kr20 is None else f"{report.kr20:.3f}",
            "flagged": [_item_line(r, lang) for r in report.flagged],
            "items": [_item_line(r, lang) for r in report.rows],
        },
        login=login,
    )


@router.get("/curricula/{code}/items.csv", **STAFF_PAGES)
def item_analysis_csv(session: SessionDep, code: str) -> Response:
    """The item-analysis report as CSV (UTF-8 with BOM, for Excel), flags in words."""
    report = item_report.build(session, code.upper())
    name = f"item-analysis-{report.curriculum_code}-{report.curriculum_version}.csv"
    return Response(
        item_report.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


# --- device results nobody could be found for --------------------------------------------------


@dataclass(frozen=True)
class DeviceLine:
    id: int
    station: str
    scenario: str
    scenario_title: str
    when: str
    score: str
    passed: str
    badge: str
    source: str


def _device_lines(request: Request, session: Session, t: Translate) -> list[DeviceLine]:
    lang = language(request)
    stations = {s.id: s.code for s in scheduling.list_stations(session)}
    lines = []
    for row in ingest.unassigned(session):
        assert row.id is not None
        frame: dict[str, Any] = json.loads(row.frame)
        found = scenario_of(row.scenario) if row.scenario else None
        score, top = frame.get("score"), frame.get("max")
        passed = frame.get("passed")
        lines.append(
            DeviceLine(
                id=row.id,
                station=stations.get(row.station_id, str(row.station_id)),
                scenario=row.scenario or "",
                scenario_title=found[1].title.get(lang) if found else "",
                when=_when(row.occurred_at or row.received_at, _tz(request)),
                score=f"{score} / {top}" if score is not None else "",
                passed=passed_words(passed, t),
                badge=str(frame.get("badge") or ""),
                source=row.source,
            )
        )
    return lines


def _device_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    *,
    failed: Correction | None = None,
    status_code: int = 200,
    done: str | None = None,
    trainee_id: int | None = None,
) -> Response:
    t = _translator(request)
    assigned = None
    if done == "assigned" and trainee_id is not None:
        try:
            assigned = trainees.get(session, trainee_id)
        except NotFound:
            assigned = None
    return render(
        request,
        "assessment/device_results.html",
        {
            "lines": _device_lines(request, session, t),
            "failed": failed,
            "done": _notice(done),
            "assigned": assigned,
        },
        login=login,
        status_code=status_code,
    )


@router.get("/device-results", **PLANNER_PAGES)
def device_results(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    done: Annotated[str | None, Query(max_length=32)] = None,
    trainee: Annotated[int | None, Query()] = None,
) -> Response:
    """Device results no trainee could be found for, each with a form to attribute it."""
    return _device_page(request, session, login, done=done, trainee_id=trainee)


@router.post("/device-results/{frame_id}/assign", **PLANNER_FORMS)
async def device_result_assign(
    request: Request, session: SessionDep, login: ConsoleLoginDep, frame_id: int
) -> Response:
    """Attribute a device result to a trainee found by ID number or badge, with a reason."""
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    who = read.text("trainee", max_length=40)
    reason = read.text("reason", max_length=500)
    found = scheduling.find_trainee(session, who) if who else []
    if who and not found:
        read.fail("trainee", "err_trainee_not_found")
    elif len(found) > 1:
        read.fail("trainee", "err_trainee_ambiguous")
    if read.errors:
        errors = {"_": read.t("err_form"), **read.errors}
        return _device_page(
            request, session, login, failed=Correction(frame_id, form, errors), status_code=422
        )
    trainee_id = found[0].id
    assert trainee_id is not None
    try:
        bindings.resolve(session, login.actor, frame_id, trainee_id, reason)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        errors = {"_": _message(request, exc)}
        return _device_page(
            request,
            session,
            login,
            failed=Correction(frame_id, form, errors),
            status_code=exc.status,
        )
    return RedirectResponse(
        f"/console/device-results?done=assigned&trainee={trainee_id}", status_code=303
    )
