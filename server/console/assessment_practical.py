"""Console pages for practical exams: an examiner picks a trainee, marks the checklist with the
total and veto outcome live, signs it; a second examiner co-signs; corrections are new versions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlmodel import Session

from scoring.results import PRACTICAL
from server.accounts.models import Role
from server.assessment import attempts, decisions, practical, recordings, sittings
from server.assessment.models import Attempt, AttemptStatus, ExamRecording
from server.console import assessment_checklist as checklist
from server.console.assessment import (
    CORRECTOR_FORMS,
    EXAMINER_FORMS,
    EXAMINER_PAGES,
    _notice,
    _refusal,
    _today,
)
from server.console.assessment_results import (
    STATE_TAGS,
    Correction,
    attempt_lines,
    part_state,
    passed_words,
    reasons_in,
    trainee_results_page,
    version_chain,
)
from server.console.pages import (
    ConsoleLogin,
    ConsoleLoginDep,
    console_allow,
    language,
    render,
)
from server.console.schedule import (
    STAFF_PAGES,
    FormReader,
    Submitted,
    _message,
    _submitted,
    _translator,
)
from server.deps import SessionDep, SettingsDep
from server.errors import NotFound, NotPermitted, SafetrainError
from server.scheduling import enrolment
from server.scheduling import service as scheduling
from server.scheduling.models import Course, EnrolmentStatus
from server.trainees import service as trainees

router = APIRouter(prefix="/console")
# Exam video is for the examiners and the admin to watch (trainers see it is there).
RECORDING_VIEWERS = (Role.examiner, Role.admin)
VIEWER_PAGES = console_allow(*RECORDING_VIEWERS)


# --- practical: picking a trainee ----------------------------------------------------------------


@dataclass(frozen=True)
class PracticalLine:
    trainee_id: int
    name: str
    state: str
    tag: str
    may_sit: bool
    draft_id: int | None
    last_id: int | None
    last_score: str
    last_passed: str


def _practical_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    course: Course,
    *,
    refused: tuple[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    assert course.id is not None
    lang, t = language(request), _translator(request)
    blueprint = practical.blueprint_of(course.curriculum_code)
    policy = decisions.policy_of(request.app.state.settings)
    rows = practical.practical_attempts_of_course(session, course.id)
    drafts = {a.trainee_id: a for a in rows if a.status == AttemptStatus.draft}
    finals = {a.trainee_id: a for a in rows if a.status == AttemptStatus.final}
    lines = []
    for row, trainee, _ in enrolment.roster(session, course.id):
        if row.status != EnrolmentStatus.enrolled:
            continue
        assert trainee.id is not None
        try:
            decision = decisions.part(session, policy, trainee.id, course, PRACTICAL, _today())
            state, tag, may = part_state(decision, t), STATE_TAGS[decision.state], decision.may_sit
        except SafetrainError as exc:
            state, tag, may = _message(request, exc), "bad", False
        draft, last = drafts.get(trainee.id), finals.get(trainee.id)
        lines.append(
            PracticalLine(
                trainee_id=trainee.id,
                name=trainee.name,
                state=state,
                tag=tag,
                may_sit=may,
                draft_id=draft.id if draft else None,
                last_id=last.id if last else None,
                last_score=last.score or "" if last else "",
                last_passed=passed_words(last.passed if last else None, t),
            )
        )
    subjects = [(s.code, s.title.get(lang), f"{s.weight:g}") for s in blueprint.subjects]
    return render(
        request,
        "assessment/practical.html",
        {
            "course": course,
            "lines": lines,
            "subjects": subjects,
            "time_limit": blueprint.time_limit_minutes,
            "is_examiner": login.role is Role.examiner,
            "stations": [st.code for st in recordings.exam_stations(session)],
            "refused": refused,
        },
        login=login,
        status_code=status_code,
    )


@router.get("/courses/{course_id}/practical", **STAFF_PAGES)
def practical_list(
    request: Request, session: SessionDep, login: ConsoleLoginDep, course_id: int
) -> Response:
    """The course's trainees for practical marking: each one's state, checklist and result."""
    course = scheduling.get_course(session, course_id)
    if login.role is Role.examiner:
        sittings.check_separation(session, login.actor, course)
    return _practical_page(request, session, login, course)


@router.post("/courses/{course_id}/practical", **EXAMINER_FORMS)
async def practical_start(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    course_id: int,
) -> Response:
    """Open (or go back to) a trainee's checklist; refused when the decision says not now."""
    course = scheduling.get_course(session, course_id)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    trainee_id = read.integer("trainee_id")
    if trainee_id is None:
        raise NotFound("请选择学员", "choose a trainee", code="trainee_not_found")
    station = read.text("station", required=False, max_length=16) or None
    check = decisions.may_sit(session, decisions.policy_of(settings), course, PRACTICAL)
    try:
        attempt = recordings.start_practical(
            session, login.actor, course_id, trainee_id, station, may_sit=check
        )
    except SafetrainError as exc:
        if isinstance(exc, NotFound | NotPermitted):
            raise
        session.rollback()
        return _practical_page(
            request,
            session,
            login,
            course,
            refused=(trainee_id, _message(request, exc)),
            status_code=exc.status,
        )
    return RedirectResponse(f"/console/attempts/{attempt.id}", status_code=303)


# --- an attempt: marking, signing, the signed result, corrections --------------------------------


@dataclass
class Posted:
    """A form of the attempt page shown again: which one, what was typed, what was wrong."""

    name: str  # marks or correction
    form: Submitted
    errors: dict[str, str]


def _marks_errors(exc: SafetrainError, message: str) -> dict[str, str]:
    """A refusal of the marks next to the item it names, and at the top of the form."""
    errors = {"_": message}
    if isinstance(exc.details, dict) and exc.details.get("item"):
        errors[checklist.state_field(str(exc.details["item"]))] = message
    return errors


def _attempt_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    attempt_id: int,
    *,
    posted: Posted | None = None,
    notice: str | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    lang, t = language(request), _translator(request)
    attempt = practical.get_attempt(session, attempt_id)
    trainee = trainees.get(session, attempt.trainee_id)
    course = scheduling.get_course(session, attempt.course_id) if attempt.course_id else None
    refusal = _refusal(request, session, login, course) if course else None
    history = attempts.history(session, attempt.trainee_id)
    chain = version_chain(history, attempt)
    draft = attempt.status == AttemptStatus.draft
    is_practical = attempt.part == PRACTICAL
    me = login.user.id
    examiner = login.role is Role.examiner and refusal is None
    can_mark = examiner and draft and is_practical and attempt.recorded_by in (None, me)
    can_cosign = (
        examiner
        and is_practical
        and attempt.status == AttemptStatus.final
        and attempt.signed_by != me
        and attempt.cosigned_by is None
    )
    can_correct = (
        attempt.status == AttemptStatus.final
        and login.role in (Role.examiner, Role.admin)
        and refusal is None
    )
    marks: list[dict[str, Any]] = json.loads(attempt.marks or "[]")
    result: dict[str, Any] = json.loads(attempt.result or "{}")
    context: dict[str, Any] = {}
    if is_practical:
        blueprint = practical.blueprint_of(attempt.curriculum_code, attempt.curriculum_version)
        saved = checklist.form_of(marks, blueprint)
        if draft:
            shown = practical.preview(attempt)
            summary = checklist.outcome(
                blueprint,
                complete=shown.complete,
                total=shown.total,
                passed=shown.passed,
                veto=shown.veto_failed,
                missing=shown.missing,
                result=shown.result,
                lang=lang,
            )
            result_for_items = shown.result
        else:
            summary = checklist.outcome(
                blueprint,
                complete=True,
                total=attempt.score or "",
                passed=attempt.passed,
                veto=result.get("veto", []),
                missing=[],
                result=result,
                lang=lang,
            )
            result_for_items = result
        mark_form, mark_errors = saved, {}
        correction_form, correction_errors = saved, {}
        if posted is not None and posted.name == "marks":
            mark_form, mark_errors = posted.form, posted.errors
        if posted is not None and posted.name == "correction":
            correction_form, correction_errors = posted.form, posted.errors
        context |= {
            "summary": summary,
            "marking": checklist.subjects_of(blueprint, mark_form, mark_errors, lang, t),
            "marking_errors": mark_errors,
            "shown": checklist.subjects_of(blueprint, saved, {}, lang, t, result_for_items),
            "correcting": checklist.subjects_of(
                blueprint, correction_form, correction_errors, lang, t
            ),
            "max_times": checklist.MAX_TIMES,
        }
    else:
        correction_form, correction_errors = Submitted(), {}
        if posted is not None and posted.name == "correction":
            correction_form, correction_errors = posted.form, posted.errors
    context |= {
        "correction_form": correction_form,
        "correction_errors": correction_errors,
    }
    names = scheduling.user_names(session, [u for u in (attempt.recorded_by,) if u])
    recorded = recordings.of_attempts(session, [a.id for a in chain if a.id is not None])
    stations = recordings.station_codes(
        session, [r.station_id for r in recorded] + [attempt.station_id or 0]
    )
    may_watch = login.role in RECORDING_VIEWERS and refusal is None
    return render(
        request,
        "assessment/attempt.html",
        {
            "attempt": attempt,
            "line": attempt_lines(request, session, [attempt], t)[0],
            "trainee": trainee,
            "course": course,
            "is_practical": is_practical,
            "draft": draft,
            "reasons": reasons_in(result.get("reasons", []), lang),
            "recorded_by": names.get(attempt.recorded_by or 0, ""),
            "versions": attempt_lines(request, session, chain, t),
            "station": stations.get(attempt.station_id or 0, ""),
            "recordings": [
                _recording_line(request, r, stations.get(r.station_id, ""), may_watch)
                for r in recorded
            ],
            "can_mark": can_mark,
            "can_cosign": can_cosign,
            "can_correct": can_correct,
            "refusal": refusal,
            "notice": notice,
            "done": _notice(done),
            **context,
        },
        login=login,
        status_code=status_code,
    )


@dataclass(frozen=True)
class RecordingLine:
    """One exam recording on the attempt page: when (local time), how long, how big, and a link
    to the file for those who may watch it."""

    id: int
    station: str
    started: str
    ended: str
    length: str
    size: str
    frames: int
    state: str  # stored, receiving or pruned
    interrupted: bool
    keep_until: str
    sha256: str
    href: str | None


def _recording_line(
    request: Request, row: ExamRecording, station: str, may_watch: bool
) -> RecordingLine:
    assert row.id is not None
    tz = request.app.state.settings.tz
    seconds = max(0, round((row.ended_at - row.started_at).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    length = (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
    )
    if row.pruned_at is not None:
        state = "pruned"
    elif row.stored_at is not None:
        state = "stored"
    else:
        state = "receiving"
    return RecordingLine(
        id=row.id,
        station=station,
        started=f"{row.started_at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
        ended=f"{row.ended_at.astimezone(tz):%H:%M:%S}",
        length=length,
        size=f"{row.size_bytes / 1024**2:.1f} MB",
        frames=row.frames,
        state=state,
        interrupted=row.interrupted,
        keep_until=f"{row.keep_until.astimezone(tz):%Y-%m-%d}" if row.keep_until else "",
        sha256=row.sha256,
        href=f"/console/exam-recordings/{row.id}/file" if may_watch and state == "stored" else None,
    )


@router.get("/exam-recordings/{recording_id}/file", **VIEWER_PAGES)
def recording_file(
    session: SessionDep, settings: SettingsDep, login: ConsoleLoginDep, recording_id: int
) -> FileResponse:
    """An exam recording's video file (examiners and the admin)."""
    row, path = recordings.file_for(session, login.actor, settings, recording_id)
    station = recordings.station_codes(session, [row.station_id]).get(row.station_id, "")
    return FileResponse(
        path, media_type=recordings.MEDIA_TYPE, filename=recordings.download_name(row, station)
    )


@router.get("/attempts/{attempt_id}", **STAFF_PAGES)
def attempt_page(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    attempt_id: int,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """One attempt: the checklist to mark while a draft; the signed result and its versions."""
    return _attempt_page(request, session, login, attempt_id, done=done)


@router.post("/attempts/{attempt_id}/marks", **EXAMINER_FORMS)
async def attempt_marks(
    request: Request, session: SessionDep, login: ConsoleLoginDep, attempt_id: int
) -> Response:
    """Save the marks given so far and calculate; "save and sign" goes on to the signing."""
    attempt = practical.get_attempt(session, attempt_id)
    blueprint = practical.blueprint_of(attempt.curriculum_code, attempt.curriculum_version)
    form = await _submitted(request)
    t = _translator(request)
    marks, errors = checklist.read_marks(form, blueprint, t)
    if errors:
        posted = Posted("marks", form, {"_": t("err_form"), **errors})
        return _attempt_page(request, session, login, attempt_id, posted=posted, status_code=422)
    try:
        practical.save_marks(session, login.actor, attempt_id, marks)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        posted = Posted("marks", form, _marks_errors(exc, _message(request, exc)))
        return _attempt_page(
            request, session, login, attempt_id, posted=posted, status_code=exc.status
        )
    if form.get("action") == "sign":
        return RedirectResponse(f"/console/attempts/{attempt_id}/sign", status_code=303)
    return RedirectResponse(f"/console/attempts/{attempt_id}?done=saved#summary", status_code=303)


def _missing_notice(request: Request, attempt: Attempt, missing: list[str]) -> str:
    lang, t = language(request), _translator(request)
    blueprint = practical.blueprint_of(attempt.curriculum_code, attempt.curriculum_version)
    named = "；".join(
        f"{code} {text}" for code, text in checklist.item_texts(blueprint, missing, lang)
    )
    return t("as_sign_incomplete", items=named)


@router.get("/attempts/{attempt_id}/sign", **EXAMINER_PAGES)
def attempt_sign_confirm(
    request: Request, session: SessionDep, login: ConsoleLoginDep, attempt_id: int
) -> Response:
    """Ask before signing: the total, passed or not, and any failed veto item, once more."""
    lang = language(request)
    attempt = practical.get_attempt(session, attempt_id)
    if attempt.status != AttemptStatus.draft or attempt.part != PRACTICAL:
        return RedirectResponse(f"/console/attempts/{attempt_id}", status_code=303)
    blueprint = practical.blueprint_of(attempt.curriculum_code, attempt.curriculum_version)
    shown = practical.preview(attempt)
    trainee = trainees.get(session, attempt.trainee_id)
    return render(
        request,
        "assessment/sign.html",
        {
            "attempt": attempt,
            "trainee": trainee,
            "summary": checklist.outcome(
                blueprint,
                complete=shown.complete,
                total=shown.total,
                passed=shown.passed,
                veto=shown.veto_failed,
                missing=shown.missing,
                result=shown.result,
                lang=lang,
            ),
            "refused": _missing_notice(request, attempt, shown.missing) if shown.missing else None,
        },
        login=login,
        status_code=200 if shown.complete else 422,
    )


@router.post("/attempts/{attempt_id}/sign", **EXAMINER_FORMS)
async def attempt_sign(
    request: Request, session: SessionDep, login: ConsoleLoginDep, attempt_id: int
) -> Response:
    """Sign a complete checklist: graded, and final from now on."""
    try:
        practical.sign(session, login.actor, attempt_id)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        notice = _message(request, exc)
        if exc.code == "incomplete_marks" and isinstance(exc.details, dict):
            attempt = practical.get_attempt(session, attempt_id)
            notice = _missing_notice(request, attempt, list(exc.details.get("missing", [])))
        return _attempt_page(
            request, session, login, attempt_id, notice=notice, status_code=exc.status
        )
    return RedirectResponse(f"/console/attempts/{attempt_id}?done=signed", status_code=303)


@router.post("/attempts/{attempt_id}/cosign", **EXAMINER_FORMS)
async def attempt_cosign(
    request: Request, session: SessionDep, login: ConsoleLoginDep, attempt_id: int
) -> Response:
    """Co-sign a signed checklist as the second examiner."""
    try:
        practical.cosign(session, login.actor, attempt_id)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        return _attempt_page(
            request,
            session,
            login,
            attempt_id,
            notice=_message(request, exc),
            status_code=exc.status,
        )
    return RedirectResponse(f"/console/attempts/{attempt_id}?done=cosigned", status_code=303)


@router.post("/attempts/{attempt_id}/corrections", **CORRECTOR_FORMS)
async def attempt_correct(
    request: Request, session: SessionDep, login: ConsoleLoginDep, attempt_id: int
) -> Response:
    """Correct a signed attempt with a reason: a new version; the old one stays visible."""
    attempt = practical.get_attempt(session, attempt_id)
    form = await _submitted(request)
    t = _translator(request)
    read = FormReader(form, t)
    reason = read.text("reason", max_length=500)
    marks: list[dict[str, Any]] | None = None
    score: str | None = None
    if attempt.part == PRACTICAL:
        blueprint = practical.blueprint_of(attempt.curriculum_code, attempt.curriculum_version)
        marks, errors = checklist.read_marks(form, blueprint, t)
        read.errors.update(errors)
    else:
        score = read.text("score", max_length=8)
    from_results = form.get("from") == "results"

    def again(errors: dict[str, str], status_code: int) -> Response:
        if from_results:
            return trainee_results_page(
                request,
                session,
                login,
                attempt.trainee_id,
                attempt.course_id,
                correction=Correction(attempt_id, form, errors),
                status_code=status_code,
            )
        posted = Posted("correction", form, errors)
        return _attempt_page(
            request, session, login, attempt_id, posted=posted, status_code=status_code
        )

    if read.errors:
        return again({"_": t("err_form"), **read.errors}, 422)
    try:
        new = attempts.correct(
            session, login.actor, attempt_id, reason=reason, marks=marks, score=score
        )
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        message = _message(request, exc)
        errors = _marks_errors(exc, message)
        if exc.code == "incomplete_marks" and isinstance(exc.details, dict):
            errors["_"] = _missing_notice(request, attempt, list(exc.details.get("missing", [])))
        if isinstance(exc.details, list):
            for detail in exc.details:
                if detail.get("field") in ("reason", "score"):
                    errors[str(detail["field"])] = message
        return again(errors, exc.status)
    if from_results:
        query = (
            f"?course={attempt.course_id}&done=corrected"
            if attempt.course_id
            else "?done=corrected"
        )
        return RedirectResponse(
            f"/console/trainees/{attempt.trainee_id}/results{query}", status_code=303
        )
    return RedirectResponse(f"/console/attempts/{new.id}?done=corrected", status_code=303)
