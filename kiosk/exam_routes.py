"""Kiosk theory exam screens: one's papers, start, one question per screen, hand in, result.

The server is the truth for the answers, the question on screen and the time left: every choice
is saved as it is given (kiosk/static/exam.js, or the form's own POST without JavaScript), every
move between questions is saved, and the timer counts down from the server's remaining seconds.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from kiosk.pages import KioskTraineeDep, kiosk_allow, language, render
from server.assessment import sittings, views
from server.assessment.schemas import AnswerSave, PaperState
from server.db import utcnow
from server.deps import SessionDep, SettingsDep
from server.errors import ExamClosed, NotFound, SafetrainError

router = APIRouter(prefix="/kiosk")

# An exam page allows this many times the kiosk's idle time without a touch (6 minutes at the
# default 90 s): reading a long question is not being away. The page keeps the server's
# session alive meanwhile; touches and answers restart the count (docs/kiosk-exams.md).
EXAM_IDLE_FACTOR = 4


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _trainee_id(me: KioskTraineeDep) -> int:
    assert me.trainee.id is not None
    return me.trainee.id


def _state(session: SessionDep, me: KioskTraineeDep, paper_id: int) -> PaperState:
    """The signed-in trainee's paper as it stands now (papers past their time graded first)."""
    now = utcnow()
    sittings.grade_due(session, now=now)
    row = sittings.paper_of_trainee(session, _trainee_id(me), paper_id)
    return views.paper_state(session, row, now)


def _question_url(state: PaperState, position: int | None = None) -> str:
    number = (state.position if position is None else position) + 1
    return f"/kiosk/exams/{state.paper_id}/questions/{number}"


def _message(request: Request, exc: SafetrainError) -> str:
    return exc.en if language(request) == "en" else exc.zh


def _exam_context(
    request: Request,
    settings: SettingsDep,
    me: KioskTraineeDep,
    state: PaperState,
    *,
    live: bool = False,
) -> dict[str, Any]:
    """What every exam screen shows; `live` pages carry the timer and the exam's idle time."""
    lang = language(request)
    answered = {q for q, c in state.answers.items() if c}
    return {
        "me": me,
        "kiosk": me.kiosk,
        "paper": state,
        "title": state.curriculum_title["en" if lang == "en" else "zh"],
        "answered": answered,
        "unanswered": state.question_count - len(answered),
        "exam_idle_seconds": settings.kiosk_idle_seconds * EXAM_IDLE_FACTOR,
        "server_idle_seconds": settings.kiosk_idle_seconds,
        "live": live,
    }


def _text(request: Request, pair: dict[str, str] | None) -> str:
    if not pair:
        return ""
    return pair["en"] if language(request) == "en" else pair["zh"]


@router.get("/exams", **kiosk_allow("trainee"))
def exam_list(request: Request, session: SessionDep, me: KioskTraineeDep) -> Response:
    """One's theory papers: open ones to start or resume, finished ones with their result."""
    now = utcnow()
    sittings.grade_due(session, now=now)
    papers = views.my_paper_states(session, _trainee_id(me), now)
    return render(
        request,
        "exam_list.html",
        {"me": me, "kiosk": me.kiosk, "papers": papers, "text": lambda p: _text(request, p)},
        idle="session",
    )


@router.get("/exams/{paper_id}", **kiosk_allow("trainee"))
def exam_paper(
    request: Request, session: SessionDep, settings: SettingsDep, me: KioskTraineeDep, paper_id: int
) -> Response:
    """Before starting: what the exam is and a big Start; a started paper resumes where it was."""
    state = _state(session, me, paper_id)
    if state.status == "in_progress":
        return _see_other(_question_url(state))
    if state.status == "graded":
        return _see_other(f"/kiosk/exams/{paper_id}/result")
    return render(
        request, "exam_start.html", _exam_context(request, settings, me, state), idle="session"
    )


@router.post("/exams/{paper_id}/start", **kiosk_allow("trainee"))
def exam_start(
    request: Request, session: SessionDep, settings: SettingsDep, me: KioskTraineeDep, paper_id: int
) -> Response:
    """Start the paper (the server fixes the deadline), then its first (or current) question."""
    sittings.paper_of_trainee(session, _trainee_id(me), paper_id)
    try:
        sittings.start(session, me.actor, _trainee_id(me), paper_id, now=utcnow())
    except SafetrainError as exc:
        state = _state(session, me, paper_id)
        context = _exam_context(request, settings, me, state) | {"error": _message(request, exc)}
        return render(request, "exam_start.html", context, status_code=exc.status, idle="session")
    return _see_other(_question_url(_state(session, me, paper_id)))


def _question_page(
    request: Request,
    settings: SettingsDep,
    me: KioskTraineeDep,
    state: PaperState,
    number: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    assert state.questions is not None
    question = state.questions[number - 1]
    context = _exam_context(request, settings, me, state, live=True) | {
        "number": number,
        "question": question,
        "chosen": set(state.answers.get(question["id"], [])),
        "error": error,
        "text": lambda p: _text(request, p),
    }
    # No idle="session": exam.js keeps its own, longer idle time (see EXAM_IDLE_FACTOR).
    return render(request, "exam_question.html", context, status_code=status_code)


def _in_progress_or_away(state: PaperState) -> Response | None:
    if state.status == "in_progress" and state.questions is not None:
        return None
    if state.status == "graded" or state.started_at is not None:
        return _see_other(f"/kiosk/exams/{state.paper_id}/result")
    return _see_other(f"/kiosk/exams/{state.paper_id}")


@router.get("/exams/{paper_id}/questions/{number}", **kiosk_allow("trainee"))
def exam_question(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: KioskTraineeDep,
    paper_id: int,
    number: int,
) -> Response:
    """One question: its options as big targets, the timer, Previous / Next, the overview."""
    state = _state(session, me, paper_id)
    away = _in_progress_or_away(state)
    if away is not None:
        return away
    if not 1 <= number <= state.question_count:
        raise NotFound(
            f"试卷上没有第 {number} 题", f"the paper has no question {number}", code="no_question"
        )
    return _question_page(request, settings, me, state, number)


@router.post("/exams/{paper_id}/questions/{number}", **kiosk_allow("trainee"))
def exam_answer_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: KioskTraineeDep,
    paper_id: int,
    number: int,
    go: Annotated[str, Form(max_length=12)] = "next",
    chosen: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The question's form without JavaScript (and every move with it): save, then go on."""
    state = _state(session, me, paper_id)
    if state.questions is None:
        return _see_other(f"/kiosk/exams/{paper_id}")
    # A paper past its time or handed in: the service refuses, and its message is shown.
    if not 1 <= number <= state.question_count:
        raise NotFound(
            f"试卷上没有第 {number} 题", f"the paper has no question {number}", code="no_question"
        )
    assert state.questions is not None
    count = state.question_count
    target: int | None = {"prev": number - 2, "next": number}.get(go)
    if go.isdigit():
        target = int(go) - 1
    if target is not None and not 0 <= target < count:
        target = None  # past the last question: the confirmation; before the first: stay
        if go == "prev":
            target = 0
    question_id = state.questions[number - 1]["id"]
    picked = list(chosen or [])
    saved = state.answers.get(question_id, [])
    try:
        if sorted(picked) != sorted(saved):
            sittings.save_answer(
                session, _trainee_id(me), paper_id, question_id, picked, position=target
            )
        elif target is not None:
            sittings.move_to(session, _trainee_id(me), paper_id, target)
    except ExamClosed as exc:
        return _result_page(request, session, me, paper_id, notice=_message(request, exc))
    except SafetrainError as exc:
        return _question_page(
            request,
            settings,
            me,
            _state(session, me, paper_id),
            number,
            error=_message(request, exc),
            status_code=exc.status,
        )
    if go == "overview":
        return _see_other(f"/kiosk/exams/{paper_id}/overview")
    if target is None and go != "prev":
        return _see_other(f"/kiosk/exams/{paper_id}/confirm")
    return _see_other(_question_url(state, target))


def _json_error(request: Request, exc: SafetrainError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.code, "message": _message(request, exc), "details": exc.details},
        status_code=exc.status,
    )


@router.put("/exams/{paper_id}/answers/{question_id}", **kiosk_allow("trainee"))
def exam_answer(
    request: Request,
    session: SessionDep,
    me: KioskTraineeDep,
    paper_id: int,
    question_id: str,
    data: AnswerSave,
) -> Response:
    """exam.js saves each choice the moment it is given; the answer holds the time left."""
    now = utcnow()
    try:
        sittings.paper_of_trainee(session, _trainee_id(me), paper_id)
        answer = sittings.save_answer(
            session,
            _trainee_id(me),
            paper_id,
            question_id,
            data.chosen,
            position=data.position,
            now=now,
        )
    except SafetrainError as exc:
        return _json_error(request, exc)
    row = sittings.paper_of_trainee(session, _trainee_id(me), paper_id)
    return JSONResponse(
        {
            "question_id": answer.question_id,
            "chosen": [o for o in answer.chosen.split(",") if o],
            "remaining_seconds": sittings.remaining_seconds(row, now) or 0,
        }
    )


@router.get("/exams/{paper_id}/time", **kiosk_allow("trainee"))
def exam_time(
    request: Request, session: SessionDep, me: KioskTraineeDep, paper_id: int
) -> Response:
    """The time left on the server (exam.js resets its timer from it); keeps the session alive."""
    try:
        state = _state(session, me, paper_id)
    except SafetrainError as exc:
        return _json_error(request, exc)
    return JSONResponse(
        {"status": state.status, "remaining_seconds": state.remaining_seconds or 0},
        headers={"Cache-Control": "no-store"},
    )


def _live_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: KioskTraineeDep,
    paper_id: int,
    template: str,
) -> Response:
    """A page of a paper in progress (with the timer); elsewhere if it is not in progress."""
    state = _state(session, me, paper_id)
    away = _in_progress_or_away(state)
    if away is not None:
        return away
    return render(request, template, _exam_context(request, settings, me, state, live=True))


@router.get("/exams/{paper_id}/overview", **kiosk_allow("trainee"))
def exam_overview(
    request: Request, session: SessionDep, settings: SettingsDep, me: KioskTraineeDep, paper_id: int
) -> Response:
    """Every question of the paper, answered (✔) or not (○): touch one to go there."""
    return _live_page(request, session, settings, me, paper_id, "exam_overview.html")


@router.post("/exams/{paper_id}/go", **kiosk_allow("trainee"))
def exam_go(
    request: Request,
    session: SessionDep,
    me: KioskTraineeDep,
    paper_id: int,
    number: Annotated[int, Form(ge=1, le=1000)],
) -> Response:
    """Jump to a question from the overview (the server remembers it, to resume there)."""
    state = _state(session, me, paper_id)
    away = _in_progress_or_away(state)
    if away is not None:
        return away
    try:
        sittings.move_to(session, _trainee_id(me), paper_id, number - 1)
    except ExamClosed as exc:
        return _result_page(request, session, me, paper_id, notice=_message(request, exc))
    return _see_other(_question_url(state, number - 1))


@router.get("/exams/{paper_id}/confirm", **kiosk_allow("trainee"))
def exam_confirm(
    request: Request, session: SessionDep, settings: SettingsDep, me: KioskTraineeDep, paper_id: int
) -> Response:
    """Before handing in: how many questions are still unanswered."""
    return _live_page(request, session, settings, me, paper_id, "exam_confirm.html")


@router.post("/exams/{paper_id}/submit", **kiosk_allow("trainee"))
def exam_submit(
    request: Request, session: SessionDep, me: KioskTraineeDep, paper_id: int
) -> Response:
    """Hand the paper in: it is graded at once."""
    sittings.paper_of_trainee(session, _trainee_id(me), paper_id)
    try:
        sittings.submit(session, _trainee_id(me), paper_id, now=utcnow())
    except ExamClosed as exc:
        return _result_page(request, session, me, paper_id, notice=_message(request, exc))
    return _see_other(f"/kiosk/exams/{paper_id}/result")


def _result_page(
    request: Request,
    session: SessionDep,
    me: KioskTraineeDep,
    paper_id: int,
    *,
    notice: str | None = None,
) -> Response:
    state = _state(session, me, paper_id)
    lang = language(request)
    options: dict[str, dict[str, str]] = {}
    for q in state.questions or []:
        options[q["id"]] = {o["label"]: o["en" if lang == "en" else "zh"] for o in q["options"]}
    return render(
        request,
        "exam_result.html",
        {
            "me": me,
            "kiosk": me.kiosk,
            "paper": state,
            "title": _text(request, state.curriculum_title),
            "result": state.result,
            "options": options,
            "notice": notice,
            "text": lambda p: _text(request, p),
        },
        status_code=409 if notice else 200,
        idle="session",
    )


@router.get("/exams/{paper_id}/result", **kiosk_allow("trainee"))
def exam_result(
    request: Request, session: SessionDep, me: KioskTraineeDep, paper_id: int
) -> Response:
    """The score, passed or not, per topic, and the missed questions explained (if allowed)."""
    state = _state(session, me, paper_id)
    if state.status == "in_progress" and (state.remaining_seconds or 0) > 0:
        return _see_other(_question_url(state))
    if state.status in ("not_started", "not_open"):
        return _see_other(f"/kiosk/exams/{paper_id}")
    return _result_page(request, session, me, paper_id)
