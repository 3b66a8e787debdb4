"""Curricula, question banks (staff only) and the rule set in force on a date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter

from curricula import Curriculum, NoRuleSetInForce, RuleSet, catalogue, rule_set_on
from server.deps import ALL_ROLES, STAFF, allow
from server.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["curricula"])


def _curriculum(code: str) -> Curriculum:
    found = catalogue().get(code.upper())
    if found is None:
        raise NotFound(
            f"课程体系 {code} 不存在",
            f"curriculum {code} does not exist",
            code="curriculum_not_found",
        )
    return found


def _summary(c: Curriculum) -> dict[str, Any]:
    return {
        "code": c.code,
        "version": c.version,
        "kind": c.kind,
        "title": c.title.model_dump(),
        "operation_category": c.operation_category.model_dump() if c.operation_category else None,
        "hours": c.hours.model_dump(),
        "question_count": len(c.questions),
    }


@router.get("/curricula", **allow(*ALL_ROLES))
def list_curricula() -> dict[str, Any]:
    """Every curriculum the base teaches."""
    data = [_summary(c) for c in sorted(catalogue().curricula.values(), key=lambda c: c.code)]
    return {"data": data, "count": len(data)}


@router.get("/curricula/{code}", **allow(*ALL_ROLES))
def get_curriculum(code: str) -> dict[str, Any]:
    """One curriculum with modules, scenarios and assessment blueprint, without the question bank."""
    c = _curriculum(code)
    return _summary(c) | c.model_dump(mode="json", exclude={"questions"})


@router.get("/curricula/{code}/questions", **allow(*STAFF))
def get_questions(code: str) -> dict[str, Any]:
    """The question bank with answers and explanations (staff only, never trainees)."""
    c = _curriculum(code)
    data = [q.model_dump(mode="json") for q in c.questions]
    return {"data": data, "count": len(data)}


def _rule_set(r: RuleSet) -> dict[str, Any]:
    return r.model_dump(mode="json")


@router.get("/rulesets", **allow(*ALL_ROLES))
def list_rule_sets() -> dict[str, Any]:
    """The regulation rule sets, oldest first."""
    data = [_rule_set(r) for r in catalogue().rule_sets]
    return {"data": data, "count": len(data)}


@router.get("/rulesets/in-force", **allow(*ALL_ROLES))
def rule_set_in_force(on: dt.date) -> dict[str, Any]:
    """The rule set in force on a date (the exam, issue or review date)."""
    try:
        return _rule_set(rule_set_on(catalogue().rule_sets, on))
    except NoRuleSetInForce as exc:
        raise NotFound(
            f"{on} 没有生效的规定", f"no rule set is in force on {on}", code="no_rule_set"
        ) from exc
