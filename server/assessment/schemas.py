"""What the assessment API takes and answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field


class SittingCreate(BaseModel):
    opens_at: AwareDatetime | None = None  # default: now
    late_start_minutes: int = Field(default=30, ge=0, le=240)


class NotSittingPublic(BaseModel):
    """An enrolled trainee who got no paper: the decision's state and reasons."""

    trainee_id: int
    state: str
    reasons: list[dict[str, str]]


class SittingPublic(BaseModel):
    id: int
    course_id: int
    curriculum_code: str
    curriculum_version: str
    time_limit_minutes: int
    opens_at: dt.datetime
    closes_at: dt.datetime
    status: str
    papers: int
    not_sitting: list[NotSittingPublic] = []


class PaperProgress(BaseModel):
    """One trainee's paper as the examiner follows it: never the answers themselves."""

    paper_id: int
    trainee_id: int
    trainee_name: str
    status: str
    started_at: dt.datetime | None
    deadline: dt.datetime | None
    answered: int
    questions: int
    submitted_at: dt.datetime | None
    score: str | None
    passed: bool | None


class SittingDetail(SittingPublic):
    progress: list[PaperProgress]


class AnswerSave(BaseModel):
    chosen: list[str] = Field(max_length=8)  # option ids as the paper lists them; [] clears
    position: int | None = Field(default=None, ge=0)


class PositionSave(BaseModel):
    position: int = Field(ge=0)


class AnswerSaved(BaseModel):
    question_id: str
    chosen: list[str]
    answered_at: dt.datetime
    remaining_seconds: int


class ReviewItem(BaseModel):
    """A question the trainee missed, after grading: what they chose, the key, why."""

    number: int
    question_id: str
    stem: dict[str, str]
    chosen: list[str]  # letters as shown on the paper
    right: list[str]
    explanation: dict[str, str] | None  # None when the curriculum keeps explanations back


class PaperState(BaseModel):
    """A trainee's paper: questions and saved answers while open; the result once graded."""

    paper_id: int
    sitting_id: int
    course_code: str
    curriculum_title: dict[str, str]
    status: str  # not_open, not_started, in_progress, graded, closed
    opens_at: dt.datetime
    closes_at: dt.datetime
    time_limit_minutes: int
    started_at: dt.datetime | None
    deadline: dt.datetime | None
    remaining_seconds: int | None
    server_time: dt.datetime
    position: int
    question_count: int
    questions: list[dict[str, Any]] | None  # shown only once started
    answers: dict[str, list[str]]
    result: dict[str, Any] | None
    review: list[ReviewItem] | None


class MyPaper(BaseModel):
    paper_id: int
    sitting_id: int
    course_code: str
    curriculum_code: str
    status: str
    opens_at: dt.datetime
    closes_at: dt.datetime
    score: str | None
    passed: bool | None


class MyPapers(BaseModel):
    data: list[MyPaper]
    count: int
