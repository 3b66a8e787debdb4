"""Assessment API: theory sittings (examiner), one's own paper (trainee), answers as given."""

from __future__ import annotations

from fastapi import APIRouter

from scoring.results import THEORY
from server.accounts.models import Role
from server.assessment import decisions, sittings, views
from server.assessment.schemas import (
    AnswerSave,
    AnswerSaved,
    MyPapers,
    NotSittingPublic,
    PaperState,
    PositionSave,
    SittingCreate,
    SittingDetail,
    SittingPublic,
)
from server.assessment.sittings import SittingPlan
from server.db import utcnow
from server.deps import STAFF, PrincipalDep, SessionDep, SettingsDep, allow
from server.errors import NotPermitted
from server.scheduling import service as scheduling

router = APIRouter(prefix="/api/v1", tags=["assessment"])
EXAMINERS = (Role.examiner,)
TRAINEES = (Role.trainee,)


@router.post(
    "/courses/{course_id}/sittings",
    response_model=SittingPublic,
    status_code=201,
    **allow(*EXAMINERS),
)
def open_sitting(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    course_id: int,
    data: SittingCreate,
) -> SittingPublic:
    """Open a theory sitting: each enrolled trainee allowed to sit gets a paper of their own."""
    course = scheduling.get_course(session, course_id)
    check = decisions.may_sit(session, decisions.policy_of(settings), course, THEORY)
    sitting, left_out = sittings.open_sitting(
        session,
        principal.actor,
        course_id,
        SittingPlan(opens_at=data.opens_at, late_start_minutes=data.late_start_minutes),
        may_sit=check,
    )
    public = views.sitting_public(session, sitting)
    public.not_sitting = [
        NotSittingPublic(trainee_id=n.trainee_id, state=n.state, reasons=n.reasons)
        for n in left_out
    ]
    return public


@router.get("/sittings/{sitting_id}", response_model=SittingDetail, **allow(*STAFF))
def get_sitting(session: SessionDep, sitting_id: int) -> SittingDetail:
    """A sitting and each trainee's progress (answered count, time, score once graded)."""
    now = utcnow()
    sittings.grade_due(session, now=now)
    return views.sitting_detail(session, sittings.get_sitting(session, sitting_id), now)


@router.post("/sittings/{sitting_id}/close", response_model=SittingDetail, **allow(*EXAMINERS))
def close_sitting(session: SessionDep, principal: PrincipalDep, sitting_id: int) -> SittingDetail:
    """End a sitting now: every paper is graded with the answers given so far."""
    now = utcnow()
    sitting = sittings.close_sitting(session, principal.actor, sitting_id, now=now)
    return views.sitting_detail(session, sitting, now)


def _own_trainee(principal: PrincipalDep) -> int:
    trainee_id = principal.user.trainee_id
    if trainee_id is None:
        raise NotPermitted(
            "此账号未关联学员", "this account is not linked to a trainee", code="not_own_record"
        )
    return trainee_id


@router.get("/me/papers", response_model=MyPapers, **allow(*TRAINEES))
def my_papers(session: SessionDep, principal: PrincipalDep) -> MyPapers:
    """One's own theory papers: open ones to take, graded ones with their score."""
    now = utcnow()
    sittings.grade_due(session, now=now)
    return views.my_papers(session, _own_trainee(principal), now)


@router.get("/papers/{paper_id}", response_model=PaperState, **allow(*TRAINEES))
def get_paper(session: SessionDep, principal: PrincipalDep, paper_id: int) -> PaperState:
    """One's paper: questions and saved answers (to resume), or the result once graded."""
    now = utcnow()
    sittings.grade_due(session, now=now)
    row = sittings.own_paper(session, principal.user.trainee_id, paper_id)
    return views.paper_state(session, row, now)


@router.post("/papers/{paper_id}/start", response_model=PaperState, **allow(*TRAINEES))
def start_paper(session: SessionDep, principal: PrincipalDep, paper_id: int) -> PaperState:
    """Start one's paper (or resume it): the deadline is fixed at the first start."""
    now = utcnow()
    row = sittings.start(session, principal.actor, principal.user.trainee_id, paper_id, now=now)
    return views.paper_state(session, row, now)


@router.put(
    "/papers/{paper_id}/answers/{question_id}", response_model=AnswerSaved, **allow(*TRAINEES)
)
def save_answer(
    session: SessionDep,
    principal: PrincipalDep,
    paper_id: int,
    question_id: str,
    data: AnswerSave,
) -> AnswerSaved:
    """Save one answer the moment it is given; refused once time is up or the paper is in."""
    now = utcnow()
    answer = sittings.save_answer(
        session,
        principal.user.trainee_id,
        paper_id,
        question_id,
        data.chosen,
        position=data.position,
        now=now,
    )
    row = sittings.own_paper(session, principal.user.trainee_id, paper_id)
    return AnswerSaved(
        question_id=answer.question_id,
        chosen=[o for o in answer.chosen.split(",") if o],
        answered_at=answer.answered_at,
        remaining_seconds=sittings.remaining_seconds(row, now) or 0,
    )


@router.put("/papers/{paper_id}/position", response_model=PaperState, **allow(*TRAINEES))
def save_position(
    session: SessionDep, principal: PrincipalDep, paper_id: int, data: PositionSave
) -> PaperState:
    """Remember the question on screen, so a reboot resumes there."""
    now = utcnow()
    row = sittings.move_to(session, principal.user.trainee_id, paper_id, data.position, now=now)
    return views.paper_state(session, row, now)


@router.post("/papers/{paper_id}/submit", response_model=PaperState, **allow(*TRAINEES))
def submit_paper(session: SessionDep, principal: PrincipalDep, paper_id: int) -> PaperState:
    """Hand in one's paper: graded at once; handing in again returns the same result."""
    now = utcnow()
    sittings.submit(session, principal.user.trainee_id, paper_id, now=now)
    row = sittings.own_paper(session, principal.user.trainee_id, paper_id)
    return views.paper_state(session, row, now)
