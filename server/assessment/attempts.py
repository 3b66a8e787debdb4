"""Attempts after the fact: the history of each part, and corrections as new versions.

A final attempt is never edited. A correction writes a new version that supersedes it — the old
one stays, marked superseded, with who corrected it, when and why in the new version and in the
audit log — so a regulator can always see what was recorded first and what it became.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from sqlmodel import Session, col, select

from scoring import reasons
from scoring.errors import InvalidMarks
from scoring.numbers import mark_text, recorded
from scoring.practical import ItemMark, grade_practical
from scoring.results import PRACTICAL, part_names
from server.assessment.models import Attempt, AttemptStatus
from server.assessment.practical import _rule_of, blueprint_of, get_attempt
from server.assessment.sittings import check_separation
from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.errors import Conflict, InvalidInput, field_error
from server.scheduling import service as scheduling


def history(session: Session, trainee_id: int) -> list[Attempt]:
    """Every attempt of a trainee, oldest first, superseded versions included."""
    return list(
        session.exec(
            select(Attempt)
            .where(Attempt.trainee_id == trainee_id)
            .order_by(col(Attempt.taken_at), col(Attempt.id))
        ).all()
    )


def _snapshot(a: Attempt) -> dict[str, Any]:
    return {
        "version": a.version,
        "status": str(a.status),
        "score": a.score,
        "passed": a.passed,
        "veto_failed": a.veto_failed,
    }


def _new_version(old: Attempt, actor: Actor, reason: str, now: dt.datetime) -> Attempt:
    return Attempt(
        trainee_id=old.trainee_id,
        course_id=old.course_id,
        curriculum_code=old.curriculum_code,
        curriculum_version=old.curriculum_version,
        part=old.part,
        source=old.source,
        source_ref=old.source_ref,
        taken_at=old.taken_at,
        rule_set=old.rule_set,
        status=AttemptStatus.final,
        score=old.score,
        passed=old.passed,
        veto_failed=old.veto_failed,
        result=old.result,
        marks=old.marks,
        version=old.version + 1,
        supersedes_id=old.id,
        correction_reason=reason,
        recorded_by=old.recorded_by,
        signed_by=actor.user_id,
        signed_at=now,
    )


def correct(
    session: Session,
    actor: Actor,
    attempt_id: int,
    *,
    reason: str,
    marks: list[Any] | None = None,
    score: str | None = None,
    now: dt.datetime | None = None,
) -> Attempt:
    """Supersede a final attempt: new practical marks, or (theory, device) a corrected score."""
    now = now or utcnow()
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "更正必须说明原因",
            "a correction needs a reason",
            details=[field_error("reason", "required", "必填", "required")],
        )
    old = get_attempt(session, attempt_id, lock=True)
    if old.status != AttemptStatus.final:
        raise Conflict(
            "只能更正最新的已定稿成绩",
            "only the current final version of an attempt can be corrected",
            code="not_current",
            details={"status": str(old.status)},
        )
    if old.course_id is not None:
        check_separation(session, actor, scheduling.get_course(session, old.course_id))
    new = _new_version(old, actor, reason, now)
    if old.part == PRACTICAL:
        if marks is None or score is not None:
            raise InvalidInput(
                "实操成绩按评分表更正：请提交完整的评分",
                "a practical is corrected by its marks: send the whole checklist",
                details=[field_error("marks", "required", "必填", "required")],
            )
        _regrade_practical(new, marks)
    else:
        if score is None or marks is not None:
            raise InvalidInput(
                "请填写更正后的分数",
                "give the corrected score",
                details=[field_error("score", "required", "必填", "required")],
            )
        _rescore(new, score)
    old.status = AttemptStatus.superseded
    session.add(old)
    session.add(new)
    session.flush()
    audit.record(
        session,
        actor,
        "attempt.correct",
        "attempt",
        new.id,
        before={"attempt_id": old.id, **_snapshot(old)},
        after={"attempt_id": new.id, **_snapshot(new)},
        reason=reason,
    )
    session.commit()
    session.refresh(new)
    return new


def _regrade_practical(new: Attempt, raw: list[Any]) -> None:
    blueprint = blueprint_of(new.curriculum_code, new.curriculum_version)
    try:
        marks = [ItemMark.from_dict(m) for m in raw]
        grade = grade_practical(blueprint, marks, rule=_rule_of(new))
    except InvalidMarks as exc:
        raise InvalidInput(exc.zh, exc.en, code=exc.code, details=exc.details) from exc
    new.marks = json.dumps([m.to_dict() for m in marks], ensure_ascii=False)
    new.score = str(recorded(grade.result.exact))
    new.passed = grade.result.passed
    new.veto_failed = ",".join(v.item for v in grade.result.veto)
    new.result = json.dumps(grade.to_dict(), ensure_ascii=False)


def _rescore(new: Attempt, raw: str) -> None:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        value = Decimal(-1)
    if (
        not value.is_finite()
        or not Decimal(0) <= value <= Decimal(100)
        or value != value.quantize(Decimal("0.1"))
    ):
        raise InvalidInput(
            f"分数 {raw} 无效：应为 0 到 100，最多一位小数",
            f"score {raw} is not valid: 0 to 100 with at most one decimal place",
            details=[field_error("score", "bad_score", "0–100，一位小数", "0–100, one decimal")],
        )
    result: dict[str, Any] = json.loads(new.result or "{}")
    mark = Fraction(str(result.get("pass_mark", "80")))
    vetoed = bool(new.veto_failed)
    new.score = str(value.quantize(Decimal("0.1")))
    new.passed = Fraction(str(value)) >= mark and not vetoed
    # The reasons about the score are said again for the corrected score; veto reasons stand.
    names = part_names(new.part)
    shown = Decimal(new.score)
    kept = [r for r in result.get("reasons", []) if r.get("code") == "veto_failed"]
    told = (
        reasons.passed(names, shown, mark_text(mark))
        if new.passed
        else reasons.below_pass_mark(names, shown, mark_text(mark))
    )
    kept.append({"code": str(told.code), "zh": told.zh, "en": told.en})
    result.update(score=new.score, exact=new.score, passed=new.passed, reasons=kept, corrected=True)
    new.result = json.dumps(result, ensure_ascii=False)
