"""The shapes a trainee's kiosk and an examiner's console read: built here, never in routes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlmodel import Session, col, select

from curricula import Curriculum
from scoring.papers import Paper, answer_key, bank_questions, paper_view
from server.assessment import sittings
from server.assessment.models import Attempt, ExamSitting, TheoryPaper
from server.assessment.schemas import (
    MyPaper,
    MyPapers,
    PaperProgress,
    PaperState,
    ReviewItem,
    SittingDetail,
    SittingPublic,
)
from server.scheduling import service as scheduling
from server.trainees.models import Trainee


def sitting_public(session: Session, sitting: ExamSitting) -> SittingPublic:
    assert sitting.id is not None
    papers = len(sittings.papers_of_sitting(session, sitting.id))
    return SittingPublic(
        id=sitting.id,
        course_id=sitting.course_id,
        curriculum_code=sitting.curriculum_code,
        curriculum_version=sitting.curriculum_version,
        time_limit_minutes=sitting.time_limit_minutes,
        opens_at=sitting.opens_at,
        closes_at=sitting.closes_at,
        status=str(sitting.status),
        papers=papers,
    )


def sitting_detail(session: Session, sitting: ExamSitting, now: dt.datetime) -> SittingDetail:
    assert sitting.id is not None
    rows = sittings.papers_of_sitting(session, sitting.id)
    ids = [r.id for r in rows if r.id is not None]
    answered = sittings.answer_counts(session, ids)
    names = dict(
        session.exec(
            select(Trainee.id, Trainee.name).where(
                col(Trainee.id).in_([r.trainee_id for r in rows])
            )
        ).all()
    )
    attempts = {
        a.id: a
        for a in session.exec(
            select(Attempt).where(col(Attempt.id).in_([r.attempt_id for r in rows if r.attempt_id]))
        ).all()
    }
    progress = []
    for r in rows:
        assert r.id is not None
        attempt = attempts.get(r.attempt_id) if r.attempt_id else None
        progress.append(
            PaperProgress(
                paper_id=r.id,
                trainee_id=r.trainee_id,
                trainee_name=names.get(r.trainee_id, ""),
                status=sittings.paper_status(r, sitting, now),
                started_at=r.started_at,
                deadline=r.deadline,
                answered=answered.get(r.id, 0),
                questions=len(sittings.stored_paper(r).questions),
                submitted_at=r.submitted_at,
                score=attempt.score if attempt else None,
                passed=attempt.passed if attempt else None,
            )
        )
    base = sitting_public(session, sitting)
    return SittingDetail(**base.model_dump(), progress=progress)


def paper_state(session: Session, row: TheoryPaper, now: dt.datetime) -> PaperState:
    """The trainee's paper: questions (no key) once started; result and review once graded."""
    assert row.id is not None
    sitting = sittings.get_sitting(session, row.sitting_id)
    course = scheduling.get_course(session, sitting.course_id)
    curriculum = sittings.curriculum_of(sitting.curriculum_code)
    paper = sittings.stored_paper(row)
    answers = sittings.saved_answers(session, row.id)
    status = sittings.paper_status(row, sitting, now)
    questions = None
    if row.started_at is not None:
        questions = paper_view(paper, curriculum).to_dict()["questions"]
    result = review = None
    if row.attempt_id is not None:
        attempt = session.get(Attempt, row.attempt_id)
        assert attempt is not None
        result = sittings.attempt_result(attempt)
        result.pop("questions", None)  # the per-question credit is for staff and item analysis
        review = _review(paper, curriculum, answers)
    return PaperState(
        paper_id=row.id,
        sitting_id=sitting.id or 0,
        course_code=course.code,
        curriculum_title={"zh": curriculum.title.zh, "en": curriculum.title.en},
        status=status,
        opens_at=sitting.opens_at,
        closes_at=sitting.closes_at,
        time_limit_minutes=sitting.time_limit_minutes,
        started_at=row.started_at,
        deadline=row.deadline,
        remaining_seconds=sittings.remaining_seconds(row, now),
        server_time=now,
        position=row.position,
        question_count=len(paper.questions),
        questions=questions,
        answers={q: list(c) for q, c in answers.items() if c},
        result=result,
        review=review,
    )


def _review(
    paper: Paper, curriculum: Curriculum, answers: Mapping[str, tuple[str, ...]]
) -> list[ReviewItem]:
    show = (
        curriculum.assessment.theory is not None and curriculum.assessment.theory.show_explanations
    )
    key = answer_key(paper, curriculum)
    items = []
    for number, (pq, q, k) in enumerate(
        zip(paper.questions, bank_questions(paper, curriculum), key, strict=True), start=1
    ):
        chosen = tuple(o for o in pq.options if o in answers.get(pq.question_id, ()))
        if set(chosen) == set(k.options):
            continue
        items.append(
            ReviewItem(
                number=number,
                question_id=pq.question_id,
                stem={"zh": q.stem.zh, "en": q.stem.en},
                chosen=[pq.label(o) for o in chosen],
                right=list(k.labels),
                explanation={"zh": q.explanation.zh, "en": q.explanation.en} if show else None,
            )
        )
    return items


def my_papers(session: Session, trainee_id: int, now: dt.datetime) -> MyPapers:
    rows = sittings.papers_of_trainee(session, trainee_id)
    course_codes = {
        c.id: c.code
        for c in scheduling.courses_by_id(session, {s.course_id for _, s in rows}).values()
    }
    attempts = {
        a.id: a
        for a in session.exec(
            select(Attempt).where(
                col(Attempt.id).in_([p.attempt_id for p, _ in rows if p.attempt_id])
            )
        ).all()
    }
    data = []
    for paper, sitting in rows:
        assert paper.id is not None and sitting.id is not None
        attempt = attempts.get(paper.attempt_id) if paper.attempt_id else None
        data.append(
            MyPaper(
                paper_id=paper.id,
                sitting_id=sitting.id,
                course_code=course_codes.get(sitting.course_id, ""),
                curriculum_code=sitting.curriculum_code,
                status=sittings.paper_status(paper, sitting, now),
                opens_at=sitting.opens_at,
                closes_at=sitting.closes_at,
                score=attempt.score if attempt else None,
                passed=attempt.passed if attempt else None,
            )
        )
    return MyPapers(data=data, count=len(data))


def my_paper_states(session: Session, trainee_id: int, now: dt.datetime) -> list[PaperState]:
    """Each of one's papers as `paper_state` shows it (time allowed and left, result): the
    kiosk's list of exams. A trainee has a handful of papers, so one state per paper is cheap."""
    return [
        paper_state(session, row, now) for row, _ in sittings.papers_of_trainee(session, trainee_id)
    ]
