"""Grading theory papers from their stored form and the chosen option ids, with a per-topic breakdown.

A question left unanswered scores nothing. Single choice and true/false take one option.
Multiple choice is all-or-nothing; when the paper (from its blueprint) allows partial credit, a
choice of only right options earns the share of the right options chosen (2 of 3 right → 2/3 of
the points) and any wrong option earns nothing (少选按比例得分，错选不得分). Scores are exact
integers of a common fraction of a point until the end; see `scoring.numbers` for rounding.

`Grader` grades a batch of papers at once with numpy (a sitting closing, a re-grade): the only
Python work per question is reading the paper's ids and points; comparing answers with keys and
summing per topic are array operations over the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from curricula.model import Curriculum, QuestionType, Text
from curricula.rules import PartRule
from scoring import reasons
from scoring.answers import (
    CHOICE_BITS,
    TRUE_FALSE_BITS,
    Answers,
    AnswerSheet,
    check_answer,
)
from scoring.errors import InvalidAnswer, PaperMismatch
from scoring.numbers import HUNDRED, exact, mark_text, text
from scoring.papers import (
    TRUE_FALSE,
    Paper,
    bank_changed,
    key_digest,
    question_digest,
    question_mismatch,
)
from scoring.reasons import Reason
from scoring.results import THEORY, Breakdown, PartResult, part_names

__all__ = [
    "AnswerSheet",
    "Answers",
    "Grader",
    "QuestionOutcome",
    "TheoryGrade",
    "check_answer",
    "grade_paper",
]

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
_EXACT_IN_FLOAT = 2**53


@dataclass(frozen=True)
class QuestionOutcome:
    question_id: str
    topic: str
    type: QuestionType
    chosen: tuple[str, ...]  # in the paper's option order
    points: Fraction
    credit: Fraction

    @property
    def answered(self) -> bool:
        return bool(self.chosen)

    @property
    def correct(self) -> bool:
        return self.credit == self.points


@dataclass(frozen=True)
class TheoryGrade:
    """A graded paper: the part result (with the per-topic breakdown) and every question's credit."""

    paper: Paper
    result: PartResult
    sheet: AnswerSheet
    units: tuple[int, ...]  # credit per paper question, in 1/denominator points
    denominator: int

    @cached_property
    def outcomes(self) -> tuple[QuestionOutcome, ...]:
        chosen = self.sheet.chosen(self.paper)
        return tuple(
            QuestionOutcome(
                pq.question_id,
                pq.topic,
                pq.type,
                chosen.get(pq.question_id, ()),
                pq.points,
                Fraction(units, self.denominator),
            )
            for pq, units in zip(self.paper.questions, self.units, strict=True)
        )

    def item_scores(self) -> tuple[Fraction, ...]:
        """Each question's credit as a share of its points (0 … 1), for item analysis."""
        return tuple(o.credit / o.points for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        data = self.result.to_dict()
        data["answers"] = self.sheet.to_text()
        data["questions"] = [
            {
                "id": o.question_id,
                "chosen": list(o.chosen),
                "correct": o.correct,
                "credit": text(o.credit),
            }
            for o in self.outcomes
        ]
        return data


class Grader:
    """A curriculum's answer keys, read once, for grading many papers of that curriculum."""

    def __init__(self, curriculum: Curriculum) -> None:
        self.curriculum = curriculum
        self._topics = tuple(t.code for t in curriculum.topics)
        self._titles: tuple[Text, ...] = tuple(t.title for t in curriculum.topics)
        if len(self._topics) > 254:
            raise ValueError("a curriculum has at most 254 topics")
        index = {code: i for i, code in enumerate(self._topics)}
        # Per bank question four bytes: key bits, option bits, topic, one option only.
        self._records: dict[str, bytes] = {}
        self._digests: dict[str, bytes] = {}
        answer_counts = {1}
        for q in curriculum.questions:
            ids: tuple[str, ...]
            if q.type is QuestionType.true_false:
                bits, ids = TRUE_FALSE_BITS, TRUE_FALSE
            else:
                bits, ids = CHOICE_BITS, tuple(o.key for o in q.options)
            key = sum(bits[a] for a in q.answer)
            options = sum(bits[o] for o in ids)
            single = q.type is not QuestionType.multiple
            self._records[q.id] = bytes((key, options, index[q.topic], single))
            self._digests[q.id] = question_digest(q)
            if q.type is QuestionType.multiple:
                answer_counts.add(len(q.answer))
        # Partial credit gives points × chosen / right: a common multiple keeps it in integers.
        self._partial_factor = math.lcm(*answer_counts)
        self._marks: dict[tuple[float, float], Fraction] = {}

    def _records_of(self, paper: Paper) -> bytes:
        """The paper's key records, after checking the bank still holds what the paper drew."""
        if paper.curriculum != self.curriculum.code:
            raise PaperMismatch(
                f"试卷属于课程体系 {paper.curriculum}，不是 {self.curriculum.code}",
                f"the paper belongs to curriculum {paper.curriculum}, not {self.curriculum.code}",
            )
        ids = paper.question_ids
        try:
            digest = key_digest(map(self._digests.__getitem__, ids))
        except KeyError as exc:
            raise question_mismatch(str(exc.args[0])) from None
        if digest != paper.key_digest:
            raise bank_changed(paper)
        # Grading reads only the question ids and points of the paper: key, type and options
        # come from the bank, which the digest has just shown to be what the paper drew from.
        return b"".join(map(self._records.__getitem__, ids))

    def _mark(self, rule: PartRule) -> Fraction:
        key = (rule.pass_mark, rule.max_score)
        mark = self._marks.get(key)
        if mark is None:
            mark = self._marks[key] = exact(rule.pass_mark) / exact(rule.max_score) * HUNDRED
        return mark

    def grade(self, paper: Paper, answers: Answers | AnswerSheet, *, rule: PartRule) -> TheoryGrade:
        """Grade one paper; `rule` is the theory rule of the rule set in force on the exam date."""
        sheet = (
            answers
            if isinstance(answers, AnswerSheet)
            else AnswerSheet.from_answers(paper, answers)
        )
        return self.grade_many([paper], [sheet], rule=rule)[0]

    def grade_many(
        self, papers: Sequence[Paper], sheets: Sequence[AnswerSheet], *, rule: PartRule
    ) -> list[TheoryGrade]:
        """Grade a batch of papers (one sitting, or a re-grade) with their answer sheets."""
        if len(papers) != len(sheets):
            raise ValueError(f"{len(papers)} papers but {len(sheets)} answer sheets")
        if not papers:
            return []
        n = len(papers)
        n_topics = len(self._topics)
        width = max(len(p.questions) for p in papers)
        padding = bytes((0, 0, n_topics, 0))  # an empty place in a shorter paper
        records: list[bytes] = []
        marks: list[bytes] = []
        points: list[tuple[int, ...]] = []
        scales: list[int] = []
        partial_rows: list[bool] = []
        for paper, sheet in zip(papers, sheets, strict=True):
            k = len(paper.questions)
            if len(sheet.marks) != k:
                raise InvalidAnswer(
                    f"答题记录有 {len(sheet.marks)} 题，试卷有 {k} 题",
                    f"the answer sheet has {len(sheet.marks)} questions, the paper {k}",
                    code="bad_sheet",
                )
            records.append(self._records_of(paper) + padding * (width - k))
            marks.append(sheet.marks + bytes(width - k))
            d, units = paper.point_units
            points.append(units + (0,) * (width - k))
            scales.append(d * (self._partial_factor if paper.partial_credit else 1))
            partial_rows.append(paper.partial_credit)
        common = math.lcm(*scales)
        # Papers with partial credit get a denominator divisible by every right-answer count.
        multipliers = np.array([common // p.point_units[0] for p in papers], dtype=np.int64)
        full = np.array(points, dtype=np.int64) * multipliers[:, None]
        rec = np.frombuffer(b"".join(records), dtype=np.uint8).reshape(n, width, 4)
        key, allowed, topic, single = (rec[:, :, i] for i in range(4))
        one_only = single == 1
        chosen = np.frombuffer(b"".join(marks), dtype=np.uint8).reshape(n, width)
        count_chosen = _POPCOUNT[chosen]

        bad = ((chosen & ~allowed) != 0) | (one_only & (count_chosen > 1))
        if bad.any():
            row, col = (int(x) for x in np.argwhere(bad)[0])
            self._raise_bad(papers[row], col, int(chosen[row, col]))

        real = topic != n_topics
        correct = (chosen == key) & real
        credit = np.where(correct, full, 0)
        if any(partial_rows):
            part = (
                np.array(partial_rows)[:, None]
                & ~one_only
                & (chosen != 0)
                & ((chosen & ~key) == 0)
                & ~correct
            )
            credit = np.where(part, full * count_chosen // np.maximum(_POPCOUNT[key], 1), credit)

        if int(full.max()) * width >= _EXACT_IN_FLOAT:
            raise ValueError("points too finely divided to sum exactly")  # never with real data
        bins = (np.arange(n, dtype=np.int64)[:, None] * (n_topics + 1) + topic).ravel()
        size = n * (n_topics + 1)

        def per_topic(values: npt.NDArray[Any] | None) -> list[list[int]]:
            weights = None if values is None else values.ravel()
            sums = np.bincount(bins, weights=weights, minlength=size).reshape(n, n_topics + 1)
            return sums[:, :n_topics].astype(np.int64).tolist()  # type: ignore[no-any-return]

        earned = per_topic(credit)
        possible = per_topic(full)
        right = per_topic(correct)
        count = per_topic(None)
        blank = ((chosen == 0) & real).sum(axis=1).tolist()
        credit_rows = credit.tolist()

        mark = self._mark(rule)
        mark_words = mark_text(mark)
        names = part_names(THEORY)
        grades: list[TheoryGrade] = []
        for i, (paper, sheet) in enumerate(zip(papers, sheets, strict=True)):
            e, t = sum(earned[i]), sum(possible[i])
            score = Fraction(e * 100, t)
            passed = e * 100 * mark.denominator >= mark.numerator * t
            shown = Decimal(e * 1000 // t).scaleb(-1)  # numbers.recorded, in integers
            why: list[Reason] = [
                (reasons.passed if passed else reasons.below_pass_mark)(names, shown, mark_words)
            ]
            if blank[i]:
                why.append(reasons.unanswered(blank[i]))
            breakdown = tuple(
                # A topic's points out of the paper's 100 are its units × 100 / t.
                Breakdown(
                    self._topics[j],
                    self._titles[j],
                    earned[i][j] * 100,
                    possible[i][j] * 100,
                    t,
                    right[i][j],
                    count[i][j],
                )
                for j in range(n_topics)
                if count[i][j]
            )
            result = PartResult(THEORY, score, mark, passed, breakdown, (), tuple(why))
            units = tuple(credit_rows[i][: len(paper.questions)])
            grades.append(TheoryGrade(paper, result, sheet, units, common))
        return grades

    def _raise_bad(self, paper: Paper, position: int, mark: int) -> None:
        pq = paper.questions[position]
        ids = TRUE_FALSE if pq.type is QuestionType.true_false else tuple(CHOICE_BITS)
        named = [o for i, o in enumerate(ids) if mark & (1 << i)]
        if mark >> len(ids):
            named.append("?")  # a bit no option id has: check_answer names it unknown
        check_answer(pq, named)
        raise question_mismatch(pq.question_id)  # the paper's options are not the bank's


def grade_paper(
    paper: Paper, answers: Answers, curriculum: Curriculum, *, rule: PartRule
) -> TheoryGrade:
    """Grade one paper against its curriculum's bank (see `Grader` for many papers)."""
    return Grader(curriculum).grade(paper, answers, rule=rule)
