"""Assessment API: practical checklists (examiner), attempts and their history, corrections."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from scoring.results import PRACTICAL
from server.accounts.models import Role
from server.assessment import attempts, decisions, item_report, practical, recordings
from server.assessment.models import Attempt, AttemptStatus
from server.deps import STAFF, PrincipalDep, SessionDep, SettingsDep, allow
from server.errors import NotPermitted
from server.scheduling import service as scheduling

router = APIRouter(prefix="/api/v1", tags=["assessment"])
EXAMINERS = (Role.examiner,)
CORRECTORS = (Role.examiner, Role.admin)


class ChecklistStart(BaseModel):
    trainee_id: int
    # The exam seat the exam is held at: its camera records it (server.assessment.recordings).
    station: str | None = Field(default=None, max_length=16)


class MarksSave(BaseModel):
    marks: list[Any] = Field(max_length=500)


class Correction(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    marks: list[Any] | None = Field(default=None, max_length=500)  # a practical's whole checklist
    score: str | None = Field(default=None, max_length=8)  # theory or device: the corrected score


class PreviewPublic(BaseModel):
    complete: bool
    missing: list[str]
    total: str
    passed: bool | None
    veto_failed: list[dict[str, Any]]


class AttemptPublic(BaseModel):
    id: int
    trainee_id: int
    course_id: int | None
    curriculum_code: str
    part: str
    source: str
    taken_at: dt.datetime
    rule_set: str
    status: str
    version: int
    supersedes_id: int | None
    correction_reason: str | None
    score: str | None
    passed: bool | None
    veto_failed: list[str]
    result: dict[str, Any]
    marks: list[Any] | None
    signed_by: int | None
    signed_at: dt.datetime | None
    cosigned_by: int | None
    cosigned_at: dt.datetime | None
    station_id: int | None = None
    preview: PreviewPublic | None = None


class AttemptsPublic(BaseModel):
    data: list[AttemptPublic]
    count: int


def attempt_public(a: Attempt, *, for_trainee: bool = False) -> AttemptPublic:
    assert a.id is not None
    result: dict[str, Any] = json.loads(a.result or "{}")
    if for_trainee:
        result.pop("questions", None)  # per-question credit is for staff and item analysis
    shown = None
    if a.status == AttemptStatus.draft and a.part == PRACTICAL and not for_trainee:
        p = practical.preview(a)
        shown = PreviewPublic(
            complete=p.complete,
            missing=p.missing,
            total=p.total,
            passed=p.passed,
            veto_failed=p.veto_failed,
        )
    return AttemptPublic(
        id=a.id,
        trainee_id=a.trainee_id,
        course_id=a.course_id,
        curriculum_code=a.curriculum_code,
        part=a.part,
        source=str(a.source),
        taken_at=a.taken_at,
        rule_set=a.rule_set,
        status=str(a.status),
        version=a.version,
        supersedes_id=a.supersedes_id,
        correction_reason=a.correction_reason,
        score=a.score,
        passed=a.passed,
        veto_failed=[v for v in a.veto_failed.split(",") if v],
        result=result,
        marks=json.loads(a.marks) if a.marks and not for_trainee else None,
        signed_by=a.signed_by,
        signed_at=a.signed_at,
        cosigned_by=a.cosigned_by,
        cosigned_at=a.cosigned_at,
        station_id=a.station_id,
        preview=shown,
    )


@router.post(
    "/courses/{course_id}/practical",
    response_model=AttemptPublic,
    status_code=201,
    **allow(*EXAMINERS),
)
def start_checklist(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    course_id: int,
    data: ChecklistStart,
) -> AttemptPublic:
    """Open a practical checklist for a trainee the decision allows to sit (or the open one)."""
    course = scheduling.get_course(session, course_id)
    check = decisions.may_sit(session, decisions.policy_of(settings), course, PRACTICAL)
    attempt = recordings.start_practical(
        session, principal.actor, course_id, data.trainee_id, data.station, may_sit=check
    )
    return attempt_public(attempt)


@router.put("/attempts/{attempt_id}/marks", response_model=AttemptPublic, **allow(*EXAMINERS))
def save_marks(
    session: SessionDep, principal: PrincipalDep, attempt_id: int, data: MarksSave
) -> AttemptPublic:
    """Save the marks given so far; the answer shows the total and veto outcome live."""
    return attempt_public(practical.save_marks(session, principal.actor, attempt_id, data.marks))


@router.post("/attempts/{attempt_id}/sign", response_model=AttemptPublic, **allow(*EXAMINERS))
def sign(session: SessionDep, principal: PrincipalDep, attempt_id: int) -> AttemptPublic:
    """Sign a complete checklist: graded and final from now on."""
    return attempt_public(practical.sign(session, principal.actor, attempt_id))


@router.post("/attempts/{attempt_id}/cosign", response_model=AttemptPublic, **allow(*EXAMINERS))
def cosign(session: SessionDep, principal: PrincipalDep, attempt_id: int) -> AttemptPublic:
    """Co-sign a signed checklist as the second examiner."""
    return attempt_public(practical.cosign(session, principal.actor, attempt_id))


@router.post(
    "/attempts/{attempt_id}/corrections",
    response_model=AttemptPublic,
    status_code=201,
    **allow(*CORRECTORS),
)
def correct(
    session: SessionDep, principal: PrincipalDep, attempt_id: int, data: Correction
) -> AttemptPublic:
    """Correct a final attempt: a new version with the reason; the old one stays visible."""
    new = attempts.correct(
        session,
        principal.actor,
        attempt_id,
        reason=data.reason,
        marks=data.marks,
        score=data.score,
    )
    return attempt_public(new)


@router.get("/attempts/{attempt_id}", response_model=AttemptPublic, **allow(*STAFF, Role.trainee))
def get_attempt(session: SessionDep, principal: PrincipalDep, attempt_id: int) -> AttemptPublic:
    """One attempt (a trainee: only their own)."""
    found = practical.get_attempt(session, attempt_id)
    if principal.role is Role.trainee:
        if principal.user.trainee_id != found.trainee_id or found.status == AttemptStatus.draft:
            raise NotPermitted(
                "只能查看本人的成绩", "you may see only your own results", code="not_own_record"
            )
        return attempt_public(found, for_trainee=True)
    return attempt_public(found)


@router.get(
    "/trainees/{trainee_id}/attempts",
    response_model=AttemptsPublic,
    **allow(*STAFF, Role.trainee),
)
def trainee_attempts(
    session: SessionDep, principal: PrincipalDep, trainee_id: int
) -> AttemptsPublic:
    """Every attempt of a trainee, corrections included (a trainee: only their own, signed)."""
    own = principal.role is Role.trainee
    if own and principal.user.trainee_id != trainee_id:
        raise NotPermitted(
            "只能查看本人的成绩", "you may see only your own results", code="not_own_record"
        )
    rows = attempts.history(session, trainee_id)
    if own:
        rows = [a for a in rows if a.status != AttemptStatus.draft]
    data = [attempt_public(a, for_trainee=own) for a in rows]
    return AttemptsPublic(data=data, count=len(data))


class DecisionPublic(BaseModel):
    """Where a trainee stands in a course: every part, the hours, ready or not, and why."""

    trainee_id: int
    course_id: int
    decision: dict[str, Any]


class CourseResults(BaseModel):
    course_id: int
    data: list[DecisionPublic]


@router.get(
    "/courses/{course_id}/trainees/{trainee_id}/decision",
    response_model=DecisionPublic,
    **allow(*STAFF, Role.trainee),
)
def trainee_decision(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    course_id: int,
    trainee_id: int,
) -> DecisionPublic:
    """Each part's decision and readiness to certify, with reasons (a trainee: their own)."""
    if principal.role is Role.trainee and principal.user.trainee_id != trainee_id:
        raise NotPermitted(
            "只能查看本人的成绩", "you may see only your own results", code="not_own_record"
        )
    found = decisions.certification(session, decisions.policy_of(settings), trainee_id, course_id)
    return DecisionPublic(trainee_id=trainee_id, course_id=course_id, decision=found.to_dict())


@router.get("/courses/{course_id}/results", response_model=CourseResults, **allow(*STAFF))
def course_results(session: SessionDep, settings: SettingsDep, course_id: int) -> CourseResults:
    """Every enrolled trainee's decisions in the course."""
    scheduling.get_course(session, course_id)
    policy = decisions.policy_of(settings)
    data = [
        DecisionPublic(
            trainee_id=trainee_id,
            course_id=course_id,
            decision=decisions.certification(session, policy, trainee_id, course_id).to_dict(),
        )
        for trainee_id in scheduling.enrolled_ids(session, course_id)
    ]
    return CourseResults(course_id=course_id, data=data)


class ItemRowPublic(BaseModel):
    question_id: str
    topic: str
    type: str
    stem: dict[str, str]
    stats: dict[str, Any]


class ItemReportPublic(BaseModel):
    curriculum_code: str
    curriculum_version: str
    papers: int
    kr20: float | None
    flagged: int
    items: list[ItemRowPublic]


@router.get("/curricula/{code}/item-analysis", response_model=ItemReportPublic, **allow(*STAFF))
def item_analysis(session: SessionDep, code: str) -> ItemReportPublic:
    """Difficulty, discrimination, option counts and flags of every question, and KR-20."""
    report = item_report.build(session, code.upper())
    return ItemReportPublic(
        curriculum_code=report.curriculum_code,
        curriculum_version=report.curriculum_version,
        papers=report.papers,
        kr20=report.kr20,
        flagged=len(report.flagged),
        items=[
            ItemRowPublic(
                question_id=r.stats.question_id,
                topic=r.topic,
                type=r.type,
                stem={"zh": r.stem_zh, "en": r.stem_en},
                stats=r.stats.to_dict(),
            )
            for r in report.rows
        ],
    )


@router.get(
    "/curricula/{code}/item-analysis.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    **allow(*STAFF),
)
def item_analysis_csv(session: SessionDep, code: str) -> Response:
    """The item-analysis report as CSV (UTF-8 with BOM), flags in words."""
    report = item_report.build(session, code.upper())
    name = f"item-analysis-{report.curriculum_code}-{report.curriculum_version}.csv"
    return Response(
        item_report.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
