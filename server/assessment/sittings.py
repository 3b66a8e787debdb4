"""Theory exam sittings: an examiner opens one for a course, each trainee answers their own paper.

Every answer is written the moment it is given, so a kiosk that reboots loses nothing; the
trainee resumes at the question they were on, and the time left is counted from the deadline
the server fixed when they started — never from the kiosk's clock. A paper is graded when the
trainee hands it in, when its deadline passes, or when the examiner closes the sitting; grading
is idempotent under a row lock, so a retry or two processes racing never grade twice.

Nothing runs on a timer of its own: papers past their deadline are graded by `grade_due`, which
every read and write of a sitting calls first and the server's background loop calls every
half-minute (`server.assessment.background`).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from curricula import Curriculum, catalogue, rule_set_on
from scoring.errors import InvalidAnswer, ScoringError
from scoring.grading import Grader, check_answer
from scoring.numbers import recorded
from scoring.papers import Paper, generate_paper
from scoring.results import THEORY
from server.assessment.models import (
    Attempt,
    AttemptSource,
    AttemptStatus,
    ExamSitting,
    SittingStatus,
    TheoryAnswer,
    TheoryPaper,
)
from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.errors import Conflict, ExamClosed, InvalidInput, NotFound, NotPermitted, field_error
from server.scheduling import service as scheduling
from server.scheduling.models import ClassSession, Course, CourseStatus, Enrolment, EnrolmentStatus

DEFAULT_GRACE_MINUTES = 30  # how late after opening a trainee may still start


@dataclass(frozen=True)
class SittingPlan:
    """What an examiner asks for: when the sitting opens and how long trainees may still start."""

    opens_at: dt.datetime | None = None
    late_start_minutes: int = DEFAULT_GRACE_MINUTES


@dataclass(frozen=True)
class NotSitting:
    """An enrolled trainee who gets no paper, and the decision that says why."""

    trainee_id: int
    state: str
    reasons: list[dict[str, str]]


def curriculum_of(code: str, version: str | None = None) -> Curriculum:
    found = catalogue().get(code)
    if found is None:
        raise NotFound(f"没有课程体系 {code}", f"no curriculum {code}", code="curriculum_not_found")
    if version is not None and found.version != version:
        raise Conflict(
            f"课程体系 {code} 已从 {version} 版改为 {found.version} 版，不能按新题库判卷",
            f"curriculum {code} changed from version {version} to {found.version}; "
            "its papers cannot be graded against the new bank",
            code="curriculum_changed",
        )
    return found


def check_separation(session: Session, actor: Actor, course: Course) -> None:
    """教考分离: whoever trained a course (its lead or an instructor) may not examine it."""
    if actor.user_id is None:
        return
    taught = session.exec(
        select(ClassSession.id).where(
            ClassSession.course_id == course.id, ClassSession.instructor_id == actor.user_id
        )
    ).first()
    if course.lead_trainer_id == actor.user_id or taught is not None:
        raise NotPermitted(
            f"您是班级 {course.code} 的培训教师，按教考分离不能担任该班考评员",
            f"you trained course {course.code}; training and examining are kept apart, "
            "so you may not examine it",
            code="examiner_trained_course",
        )


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or utcnow()


# --- opening and closing -------------------------------------------------------------------


def open_sitting(
    session: Session,
    actor: Actor,
    course_id: int,
    plan: SittingPlan,
    *,
    may_sit: Callable[[int, dt.date], tuple[bool, str, list[dict[str, str]]]],
    now: dt.datetime | None = None,
) -> tuple[ExamSitting, list[NotSitting]]:
    """Open a theory sitting for a course: a paper, drawn now, for each enrolled trainee the
    decision allows to sit (`may_sit(trainee_id, day)`); the others are named with the reason."""
    now = _now(now)
    course = scheduling.get_course(session, course_id, lock=True)
    if course.status == CourseStatus.cancelled:
        raise Conflict(
            f"班级 {course.code} 已取消",
            f"course {course.code} is cancelled",
            code="course_cancelled",
        )
    check_separation(session, actor, course)
    curriculum = curriculum_of(course.curriculum_code)
    blueprint = curriculum.assessment.theory
    if blueprint is None:
        raise InvalidInput(
            f"课程体系 {curriculum.code} 没有理论考试",
            f"curriculum {curriculum.code} has no theory exam",
            code="no_theory_exam",
        )
    opens_at = plan.opens_at or now
    if not 0 <= plan.late_start_minutes <= 240:
        raise InvalidInput(
            "迟到开考时限应在 0 到 240 分钟之间",
            "the late-start allowance must be 0 to 240 minutes",
            details=[field_error("late_start_minutes", "out_of_range", "0–240", "0–240")],
        )
    trainee_ids = list(
        session.exec(
            select(Enrolment.trainee_id)
            .where(
                Enrolment.course_id == course_id,
                Enrolment.status == EnrolmentStatus.enrolled,
            )
            .order_by(col(Enrolment.id))
        ).all()
    )
    if not trainee_ids:
        raise InvalidInput(
            f"班级 {course.code} 没有正式报名的学员",
            f"course {course.code} has nobody enrolled",
            code="no_trainees",
        )
    day = _local_day(opens_at)
    left_out: list[NotSitting] = []
    sitting_ids: list[int] = []
    for trainee_id in trainee_ids:
        allowed, state, why = may_sit(trainee_id, day)
        if allowed:
            sitting_ids.append(trainee_id)
        else:
            left_out.append(NotSitting(trainee_id, state, why))
    if not sitting_ids:
        raise InvalidInput(
            f"班级 {course.code} 没有可以参加理论考试的学员",
            f"nobody in course {course.code} may sit the theory exam",
            code="nobody_may_sit",
            details={"not_sitting": [n.__dict__ for n in left_out]},
        )
    trainee_ids = sitting_ids
    limit = dt.timedelta(minutes=blueprint.time_limit_minutes)
    assert actor.user_id is not None
    sitting = ExamSitting(
        course_id=course_id,
        curriculum_code=curriculum.code,
        curriculum_version=curriculum.version,
        time_limit_minutes=blueprint.time_limit_minutes,
        opens_at=opens_at,
        closes_at=opens_at + dt.timedelta(minutes=plan.late_start_minutes) + limit,
        opened_by=actor.user_id,
    )
    session.add(sitting)
    session.flush()
    assert sitting.id is not None
    for trainee_id in trainee_ids:
        # A secret seed: nobody can compute a trainee's paper ahead of the sitting.
        paper = generate_paper(curriculum, secrets.token_hex(16))
        session.add(
            TheoryPaper(
                sitting_id=sitting.id, trainee_id=trainee_id, paper=json.dumps(paper.to_dict())
            )
        )
    audit.record(
        session,
        actor,
        "sitting.open",
        "exam_sitting",
        sitting.id,
        after={
            "course_id": course_id,
            "curriculum": f"{curriculum.code} {curriculum.version}",
            "opens_at": sitting.opens_at.isoformat(),
            "closes_at": sitting.closes_at.isoformat(),
            "papers": len(trainee_ids),
            "not_sitting": [n.trainee_id for n in left_out],
        },
    )
    session.commit()
    session.refresh(sitting)
    return sitting, left_out


def get_sitting(session: Session, sitting_id: int) -> ExamSitting:
    sitting = session.get(ExamSitting, sitting_id)
    if sitting is None:
        raise NotFound(
            f"考试场次 {sitting_id} 不存在",
            f"exam sitting {sitting_id} does not exist",
            code="sitting_not_found",
        )
    return sitting


def close_sitting(
    session: Session, actor: Actor, sitting_id: int, *, now: dt.datetime | None = None
) -> ExamSitting:
    """Close a sitting now (the examiner ends it early): every paper is graded as it stands."""
    now = _now(now)
    sitting = get_sitting(session, sitting_id)
    course = scheduling.get_course(session, sitting.course_id)
    check_separation(session, actor, course)
    if sitting.status == SittingStatus.open:
        if sitting.closes_at > now:
            sitting.closes_at = now
            session.add(sitting)
            audit.record(
                session,
                actor,
                "sitting.close",
                "exam_sitting",
                sitting.id,
                after={"closes_at": now.isoformat()},
            )
            session.commit()
        grade_due(session, now=now)
    session.refresh(sitting)
    return sitting


# --- a trainee's paper -----------------------------------------------------------------------


def _paper_row(session: Session, paper_id: int, *, lock: bool = False) -> TheoryPaper:
    query = select(TheoryPaper).where(TheoryPaper.id == paper_id)
    if lock:
        query = query.with_for_update()
    row = session.exec(query).first()
    if row is None:
        raise NotFound(
            f"试卷 {paper_id} 不存在", f"paper {paper_id} does not exist", code="paper_not_found"
        )
    return row


def own_paper(
    session: Session, trainee_id: int | None, paper_id: int, *, lock: bool = False
) -> TheoryPaper:
    """A trainee's own paper; anyone else's is refused the same way as a missing one."""
    row = _paper_row(session, paper_id, lock=lock)
    if trainee_id is None or row.trainee_id != trainee_id:
        raise NotPermitted(
            "只能查看本人的试卷", "you may open only your own paper", code="not_own_record"
        )
    return row


def paper_of_trainee(session: Session, trainee_id: int, paper_id: int) -> TheoryPaper:
    """A trainee's own paper for their own screens (the kiosk): anyone else's reads as missing,
    so a URL never confirms that another trainee's paper exists."""
    try:
        return own_paper(session, trainee_id, paper_id)
    except NotPermitted:
        raise NotFound(
            f"试卷 {paper_id} 不存在", f"paper {paper_id} does not exist", code="paper_not_found"
        ) from None


def stored_paper(row: TheoryPaper) -> Paper:
    return Paper.from_dict(json.loads(row.paper))


def saved_answers(session: Session, paper_id: int) -> dict[str, tuple[str, ...]]:
    rows = session.exec(select(TheoryAnswer).where(TheoryAnswer.paper_id == paper_id)).all()
    return {a.question_id: tuple(o for o in a.chosen.split(",") if o) for a in rows}


def start(
    session: Session,
    actor: Actor,
    trainee_id: int | None,
    paper_id: int,
    *,
    now: dt.datetime | None = None,
) -> TheoryPaper:
    """Begin (or resume) one's paper: the deadline is fixed at the first start and never moves."""
    now = _now(now)
    grade_due(session, now=now)
    row = own_paper(session, trainee_id, paper_id, lock=True)
    if row.started_at is not None:
        session.rollback()
        return row
    sitting = get_sitting(session, row.sitting_id)
    if now < sitting.opens_at:
        raise Conflict(
            "考试尚未开始",
            "the exam has not opened yet",
            code="exam_not_open",
            details={"opens_at": sitting.opens_at.isoformat()},
        )
    if sitting.status != SittingStatus.open or now >= sitting.closes_at:
        raise ExamClosed("考试已结束，不能再开考", "the exam is over; it can no longer be started")
    row.started_at = now
    row.deadline = min(now + dt.timedelta(minutes=sitting.time_limit_minutes), sitting.closes_at)
    session.add(row)
    audit.record(
        session,
        actor,
        "paper.start",
        "theory_paper",
        row.id,
        after={"started_at": now.isoformat(), "deadline": row.deadline.isoformat()},
    )
    session.commit()
    session.refresh(row)
    return row


def save_answer(
    session: Session,
    trainee_id: int | None,
    paper_id: int,
    question_id: str,
    chosen: Sequence[str],
    *,
    position: int | None = None,
    now: dt.datetime | None = None,
) -> TheoryAnswer:
    """Save one answer as it is given (the same answer again is harmless); none after time."""
    now = _now(now)
    row = own_paper(session, trainee_id, paper_id, lock=True)
    _check_open(session, row, now)
    paper = stored_paper(row)
    question = paper.question(question_id)
    if question is None:
        raise InvalidInput(
            f"试卷上没有第 {question_id} 题",
            f"question {question_id} is not on this paper",
            code="question_not_on_paper",
            details=[field_error("question_id", "question_not_on_paper", question_id, question_id)],
        )
    try:
        picked = check_answer(question, chosen)
    except InvalidAnswer as exc:
        raise InvalidInput(
            exc.zh, exc.en, code=exc.code, details=[field_error("chosen", exc.code, exc.zh, exc.en)]
        ) from exc
    value = ",".join(sorted(picked))
    answer = session.exec(
        select(TheoryAnswer).where(
            TheoryAnswer.paper_id == paper_id, TheoryAnswer.question_id == question_id
        )
    ).first()
    if answer is None:
        answer = TheoryAnswer(
            paper_id=paper_id, question_id=question_id, chosen=value, answered_at=now
        )
    elif answer.chosen != value:
        answer.chosen, answer.answered_at, answer.changes = value, now, answer.changes + 1
    if position is not None:
        if not 0 <= position < len(paper.questions):
            raise InvalidInput(
                f"题号 {position} 超出范围",
                f"position {position} is outside the paper",
                details=[field_error("position", "out_of_range", "超出范围", "out of range")],
            )
        row.position = position
        session.add(row)
    session.add(answer)
    session.commit()
    session.refresh(answer)
    return answer


def move_to(
    session: Session,
    trainee_id: int | None,
    paper_id: int,
    position: int,
    *,
    now: dt.datetime | None = None,
) -> TheoryPaper:
    """Remember the question the trainee is looking at, to resume there after a reboot."""
    now = _now(now)
    row = own_paper(session, trainee_id, paper_id, lock=True)
    _check_open(session, row, now)
    if not 0 <= position < len(stored_paper(row).questions):
        raise InvalidInput(
            f"题号 {position} 超出范围",
            f"position {position} is outside the paper",
            details=[field_error("position", "out_of_range", "超出范围", "out of range")],
        )
    row.position = position
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def _check_open(session: Session, row: TheoryPaper, now: dt.datetime) -> None:
    if row.started_at is None or row.deadline is None:
        raise Conflict("请先开始答题", "start the paper first", code="paper_not_started")
    if row.submitted_at is not None:
        raise ExamClosed(
            "试卷已交卷，不能再修改", "the paper was handed in; it can no longer change"
        )
    if now >= row.deadline:
        session.rollback()
        grade_due(session, now=now)
        raise ExamClosed("考试时间已到，答案未保存", "time is up; the answer was not saved")


def submit(
    session: Session, trainee_id: int | None, paper_id: int, *, now: dt.datetime | None = None
) -> Attempt:
    """Hand in one's paper: it is graded at once. Handing in twice returns the same result."""
    now = _now(now)
    row = own_paper(session, trainee_id, paper_id, lock=True)
    if row.attempt_id is not None:
        attempt = session.get(Attempt, row.attempt_id)
        assert attempt is not None
        session.rollback()
        return attempt
    _check_open(session, row, now)
    row.submitted_at = now
    attempt = _grade(session, row, now)
    session.commit()
    session.refresh(attempt)
    return attempt


# --- grading ---------------------------------------------------------------------------------


def _grade(session: Session, row: TheoryPaper, now: dt.datetime) -> Attempt:
    """Grade a locked paper with the answers saved so far; the caller commits."""
    sitting = get_sitting(session, row.sitting_id)
    # A newer version of the curriculum grades the paper only if the paper's questions and keys
    # are unchanged in it (the paper carries a digest of them); otherwise nothing is guessed.
    curriculum = curriculum_of(sitting.curriculum_code)
    taken_at = row.started_at or sitting.opens_at
    rule_set = rule_set_on(catalogue().rule_sets, _local_day(taken_at))
    try:
        grade = Grader(curriculum).grade(
            stored_paper(row), saved_answers(session, row.id or 0), rule=rule_set.theory
        )
    except ScoringError as exc:
        raise Conflict(
            f"试卷无法按现行题库判卷：{exc.zh}",
            f"the paper cannot be graded against the current bank: {exc.en}",
            code="curriculum_changed",
            details={"paper_id": row.id, "scoring": exc.code},
        ) from exc
    result = grade.result
    attempt = Attempt(
        trainee_id=row.trainee_id,
        course_id=sitting.course_id,
        curriculum_code=curriculum.code,
        curriculum_version=curriculum.version,
        part=THEORY,
        source=AttemptSource.theory,
        source_ref=f"paper:{row.id}",
        taken_at=taken_at,
        rule_set=rule_set.code,
        status=AttemptStatus.final,
        score=str(recorded(result.exact)),
        passed=result.passed,
        result=json.dumps(grade.to_dict(), ensure_ascii=False),
        signed_at=now,
    )
    session.add(attempt)
    session.flush()
    row.graded_at = now
    row.attempt_id = attempt.id
    session.add(row)
    audit.record(
        session,
        Actor(name="system:grading"),
        "attempt.record",
        "attempt",
        attempt.id,
        after={
            "trainee_id": row.trainee_id,
            "part": THEORY,
            "paper_id": row.id,
            "score": attempt.score,
            "passed": attempt.passed,
            "rule_set": rule_set.code,
            "submitted": row.submitted_at is not None,
        },
    )
    return attempt


# Attempt dates are judged on the base's calendar (an exam at 07:30 in Shanghai is that day's).
LOCAL = ZoneInfo("Asia/Shanghai")


def _local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(LOCAL).date()


def grade_due(session: Session, *, now: dt.datetime | None = None) -> int:
    """Grade every paper whose time is up, and close sittings whose papers are all graded.

    Safe to call from many processes at once: each paper is locked and re-checked before it is
    graded, so it is graded exactly once.
    """
    now = _now(now)
    due_ids = list(
        session.exec(
            select(TheoryPaper.id)
            .join(ExamSitting, col(ExamSitting.id) == TheoryPaper.sitting_id)
            .where(
                col(TheoryPaper.graded_at).is_(None),
                (col(TheoryPaper.deadline) <= now) | (col(ExamSitting.closes_at) <= now),
            )
        ).all()
    )
    graded = 0
    for paper_id in due_ids:
        assert paper_id is not None
        row = _paper_row(session, paper_id, lock=True)
        sitting = get_sitting(session, row.sitting_id)
        due = (row.deadline is not None and row.deadline <= now) or sitting.closes_at <= now
        if row.graded_at is None and due:
            _grade(session, row, now)
            graded += 1
            session.commit()
        else:
            session.rollback()
    _close_finished(session, now)
    return graded


def _close_finished(session: Session, now: dt.datetime) -> None:
    ungraded = (
        select(func.count())
        .select_from(TheoryPaper)
        .where(TheoryPaper.sitting_id == ExamSitting.id, col(TheoryPaper.graded_at).is_(None))
        .scalar_subquery()
    )
    finished = session.exec(
        select(ExamSitting).where(
            ExamSitting.status == SittingStatus.open,
            col(ExamSitting.closes_at) <= now,
            ungraded == 0,
        )
    ).all()
    for sitting in finished:
        sitting.status = SittingStatus.closed
        sitting.closed_at = now
        session.add(sitting)
    if finished:
        session.commit()


# --- what the trainee and the examiner see ------------------------------------------------


def remaining_seconds(row: TheoryPaper, now: dt.datetime) -> int | None:
    if row.deadline is None:
        return None
    if row.graded_at is not None:
        return 0
    return max(0, int((row.deadline - now).total_seconds()))


def paper_status(row: TheoryPaper, sitting: ExamSitting, now: dt.datetime) -> str:
    if row.graded_at is not None:
        return "graded"
    if row.started_at is None:
        if now < sitting.opens_at:
            return "not_open"
        return "closed" if now >= sitting.closes_at else "not_started"
    return "in_progress"


def papers_of_trainee(session: Session, trainee_id: int) -> list[tuple[TheoryPaper, ExamSitting]]:
    rows = session.exec(
        select(TheoryPaper, ExamSitting)
        .join(ExamSitting, col(ExamSitting.id) == TheoryPaper.sitting_id)
        .where(TheoryPaper.trainee_id == trainee_id)
        .order_by(col(ExamSitting.opens_at).desc())
    ).all()
    return [(p, s) for p, s in rows]


def papers_of_sitting(session: Session, sitting_id: int) -> list[TheoryPaper]:
    return list(
        session.exec(
            select(TheoryPaper)
            .where(TheoryPaper.sitting_id == sitting_id)
            .order_by(col(TheoryPaper.id))
        ).all()
    )


def answer_counts(session: Session, paper_ids: list[int]) -> dict[int, int]:
    if not paper_ids:
        return {}
    rows = session.exec(
        select(TheoryAnswer.paper_id, func.count())
        .where(col(TheoryAnswer.paper_id).in_(paper_ids), TheoryAnswer.chosen != "")
        .group_by(col(TheoryAnswer.paper_id))
    ).all()
    return {pid: int(n) for pid, n in rows}


def attempt_result(attempt: Attempt) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(attempt.result)
    return data


# --- look-ups for the console's exams page ---------------------------------------------------


def sittings_of_courses(
    session: Session, course_ids: Sequence[int]
) -> dict[int, list[ExamSitting]]:
    """Each course's sittings, the latest first, in one query."""
    out: dict[int, list[ExamSitting]] = {cid: [] for cid in course_ids}
    if course_ids:
        rows = session.exec(
            select(ExamSitting)
            .where(col(ExamSitting.course_id).in_(course_ids))
            .order_by(col(ExamSitting.opens_at).desc(), col(ExamSitting.id).desc())
        ).all()
        for sitting in rows:
            out[sitting.course_id].append(sitting)
    return out


def paper_counts(session: Session, sitting_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(papers, papers graded) of each sitting, in one query."""
    if not sitting_ids:
        return {}
    rows = session.exec(
        select(TheoryPaper.sitting_id, func.count(), func.count(col(TheoryPaper.graded_at)))
        .where(col(TheoryPaper.sitting_id).in_(sitting_ids))
        .group_by(col(TheoryPaper.sitting_id))
    ).all()
    return {sid: (int(papers), int(graded)) for sid, papers, graded in rows}
