"""Keyword-only builders for scoring tests: curricula from the shipped catalogue, answers, rules."""

from __future__ import annotations

import datetime as dt

from curricula import Curriculum, catalogue, rule_set_on
from curricula.model import Question, QuestionType
from curricula.rules import PartRule, RuleSet
from scoring.papers import Paper

ORDER_30_DAY = dt.date(2026, 5, 20)
ORDER_19_DAY = dt.date(2026, 6, 10)


def rules_on(day: dt.date) -> RuleSet:
    return rule_set_on(catalogue().rule_sets, day)


def theory_rule(day: dt.date = ORDER_19_DAY) -> PartRule:
    return rules_on(day).theory


def curriculum(
    code: str = "NITRATION", *, partial_credit: bool | None = None, version: str | None = None
) -> Curriculum:
    """A shipped curriculum, optionally with its theory blueprint's partial credit switched."""
    c = catalogue().curricula[code]
    update: dict[str, object] = {}
    if version is not None:
        update["version"] = version
    if partial_credit is not None:
        theory = c.assessment.theory
        assert theory is not None
        blueprint = theory.model_copy(update={"partial_credit": partial_credit})
        update["assessment"] = c.assessment.model_copy(update={"theory": blueprint})
    return c.model_copy(update=update) if update else c


def with_answer(c: Curriculum, question_id: str, answer: tuple[str, ...]) -> Curriculum:
    """The curriculum with one question's key changed (an erratum to the bank)."""
    questions = tuple(
        q.model_copy(update={"answer": answer}) if q.id == question_id else q for q in c.questions
    )
    return c.model_copy(update={"questions": questions})


def bank(c: Curriculum) -> dict[str, Question]:
    return {q.id: q for q in c.questions}


def right_answers(paper: Paper, c: Curriculum) -> dict[str, list[str]]:
    questions = bank(c)
    return {pq.question_id: list(questions[pq.question_id].answer) for pq in paper.questions}


def wrong_answer(q: Question) -> list[str]:
    """One option that is not right (for a multiple-choice question: one wrong option)."""
    if q.type is QuestionType.true_false:
        return ["F" if q.answer == ("T",) else "T"]
    return [next(o.key for o in q.options if o.key not in q.answer)]
