"""Item analysis of theory questions over many attempts, vectorised with numpy.

The input is a results matrix, attempts × questions: each cell the share of the question's
points the attempt earned (0 or 1, or a share with partial credit), NaN where the question was
not on that attempt's paper — papers are drawn per trainee, so a matrix over a bank has gaps.
Per question:

- difficulty, the p-value: the mean score of those who had the question (1 = everyone right);
- discrimination as the point-biserial correlation of the question with the rest of the paper
  (the attempt's number right without this question, so a question does not correlate with
  itself), and as the upper–lower index D: the p-value in the best 27 % of attempts minus the
  p-value in the worst 27 %, ranked by share of their own paper right (ties in rank are broken
  by row order);
- option counts from the answer sheets: how often each option was chosen, and how often the
  question was left blank (distractors nobody picks do no work);
- flags: too easy, too hard, discriminating negatively, or too few responses to say.

Reliability is KR-20 per paper: k/(k−1) · (1 − Σ item variance / variance of totals), with
population variances. When the attempts sat different questions, the item variances summed are
those of each attempt's own paper, averaged, and k is the mean paper length; for attempts that
all sat the same questions this is the textbook KR-20 (Cronbach's alpha for partial credit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from curricula.model import Curriculum, QuestionType
from scoring.answers import TRUE_FALSE_BITS
from scoring.grading import TheoryGrade
from scoring.papers import LETTERS

FloatArray = npt.NDArray[np.float64]
UPPER_LOWER_SHARE = 0.27


class ItemFlag(StrEnum):
    too_easy = "too_easy"
    too_hard = "too_hard"
    negative_discrimination = "negative_discrimination"
    few_responses = "few_responses"


@dataclass(frozen=True)
class Thresholds:
    too_easy: float = 0.9  # p above this: nearly everyone gets it right
    too_hard: float = 0.2  # p below this
    min_responses: int = 30  # fewer: no other flag, the figures are noise


@dataclass(frozen=True)
class Responses:
    """The matrix to analyse; `choices` (answer-sheet bytes) only for option counts."""

    question_ids: tuple[str, ...]
    scores: npt.NDArray[Any]  # attempts × questions, 0 … 1, NaN = not on the paper
    choices: npt.NDArray[np.uint8] | None = None  # same shape, bit i = option id i chosen
    option_ids: tuple[tuple[str, ...], ...] | None = None  # per question, the id of each bit

    def __post_init__(self) -> None:
        shape = np.shape(self.scores)
        if len(shape) != 2 or shape[1] != len(self.question_ids):
            raise ValueError(
                f"scores must be attempts × {len(self.question_ids)} questions, got {shape}"
            )
        if self.choices is not None and np.shape(self.choices) != shape:
            raise ValueError(f"choices must have the shape of scores, {shape}")


def responses_from_grades(grades: Sequence[TheoryGrade], curriculum: Curriculum) -> Responses:
    """The results matrix over a curriculum's whole bank from graded papers (one row each)."""
    ids = tuple(q.id for q in curriculum.questions)
    column = {qid: j for j, qid in enumerate(ids)}
    scores = np.full((len(grades), len(ids)), np.nan)
    choices = np.zeros((len(grades), len(ids)), dtype=np.uint8)
    for i, grade in enumerate(grades):
        cols = [column[qid] for qid in grade.paper.question_ids]
        d, points = grade.paper.point_units
        full = np.array(points, dtype=np.float64) * (grade.denominator // d)
        scores[i, cols] = np.array(grade.units, dtype=np.float64) / full
        choices[i, cols] = np.frombuffer(grade.sheet.marks, dtype=np.uint8)
    option_ids = tuple(
        tuple(TRUE_FALSE_BITS)
        if q.type is QuestionType.true_false
        else tuple(LETTERS[: len(q.options)])
        for q in curriculum.questions
    )
    return Responses(ids, scores, choices, option_ids)


@dataclass(frozen=True)
class ItemStats:
    question_id: str
    responses: int
    difficulty: float | None
    point_biserial: float | None
    upper_lower: float | None
    blank: int | None
    option_counts: dict[str, int] | None
    flags: tuple[ItemFlag, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "responses": self.responses,
            "difficulty": self.difficulty,
            "point_biserial": self.point_biserial,
            "upper_lower": self.upper_lower,
            "blank": self.blank,
            "option_counts": self.option_counts,
            "flags": [f.value for f in self.flags],
        }


@dataclass(frozen=True)
class ItemAnalysis:
    question_ids: tuple[str, ...]
    attempts: int
    responses: npt.NDArray[np.int64]
    difficulty: FloatArray  # NaN where nobody had the question
    point_biserial: FloatArray  # NaN where undefined (no spread in the item or the rest)
    upper_lower: FloatArray
    kr20: float | None
    option_counts: npt.NDArray[np.int64] | None  # questions × 9: blank, then bit 0 … bit 7
    option_ids: tuple[tuple[str, ...], ...] | None
    thresholds: Thresholds = field(default_factory=Thresholds)

    def flags(self, j: int) -> tuple[ItemFlag, ...]:
        t = self.thresholds
        if self.responses[j] < t.min_responses:
            return (ItemFlag.few_responses,)
        found: list[ItemFlag] = []
        p, r = self.difficulty[j], self.point_biserial[j]
        if p > t.too_easy:
            found.append(ItemFlag.too_easy)
        if p < t.too_hard:
            found.append(ItemFlag.too_hard)
        if r < 0:
            found.append(ItemFlag.negative_discrimination)
        return tuple(found)

    def item(self, j: int) -> ItemStats:
        def num(a: FloatArray) -> float | None:
            return None if np.isnan(a[j]) else float(a[j])

        counts: dict[str, int] | None = None
        blank: int | None = None
        if self.option_counts is not None:
            blank = int(self.option_counts[j, 0])
            ids = self.option_ids[j] if self.option_ids is not None else tuple(LETTERS)
            counts = {o: int(self.option_counts[j, 1 + b]) for b, o in enumerate(ids)}
        return ItemStats(
            question_id=self.question_ids[j],
            responses=int(self.responses[j]),
            difficulty=num(self.difficulty),
            point_biserial=num(self.point_biserial),
            upper_lower=num(self.upper_lower),
            blank=blank,
            option_counts=counts,
            flags=self.flags(j),
        )

    def items(self) -> tuple[ItemStats, ...]:
        return tuple(self.item(j) for j in range(len(self.question_ids)))

    def flagged(self) -> tuple[ItemStats, ...]:
        """Questions to look at: too easy, too hard or discriminating negatively."""
        return tuple(s for s in self.items() if s.flags and s.flags != (ItemFlag.few_responses,))


def _divide(top: FloatArray, bottom: FloatArray) -> FloatArray:
    out = np.full(np.shape(top), np.nan)
    np.divide(top, bottom, out=out, where=bottom > 0)
    return out


def analyse_items(responses: Responses, thresholds: Thresholds | None = None) -> ItemAnalysis:
    """Difficulty, discrimination, option counts and KR-20 over all attempts at once."""
    x = np.asarray(responses.scores, dtype=np.float64)
    n, k = x.shape
    present = ~np.isnan(x)
    dense = bool(present.all())
    # Sums over attempts that had each question, weighted per attempt: a matrix-vector
    # product with the presence mask, or plain sums when every attempt had every question.
    if dense:
        x0 = x
        m = None

        def had(weights: FloatArray) -> FloatArray:
            return np.full(k, float(weights.sum()))

    else:
        x0 = np.where(present, x, 0.0)
        m = present.astype(np.float64)

        def had(weights: FloatArray) -> FloatArray:
            assert m is not None
            return m.T @ weights

    ones = np.ones(n)
    count = had(ones)
    totals = x0.sum(axis=1)  # each attempt's number right on its own paper
    length = np.full(n, float(k)) if m is None else m.sum(axis=1)

    sx = ones @ x0
    sxx = np.einsum("ij,ij->j", x0, x0)
    st = had(totals)
    stt = had(totals * totals)
    sxt = totals @ x0
    difficulty = _divide(sx, count)

    # Item against rest (total minus the item), over the attempts that had the item.
    sr, srr, sxr = st - sx, stt - 2 * sxt + sxx, sxt - sxx
    mean_x, mean_r = _divide(sx, count), _divide(sr, count)
    cov = _divide(sxr, count) - mean_x * mean_r
    var_x = _divide(sxx, count) - mean_x**2
    var_r = _divide(srr, count) - mean_r**2
    spread = var_x * var_r
    # Rounding can leave a zero variance a hair from 0; no spread means no correlation.
    spread = np.where(spread > 1e-12, spread, np.nan)
    point_biserial = cov / np.sqrt(spread)

    upper_lower = np.full(k, np.nan)
    sat = np.flatnonzero(length > 0)
    group = int(len(sat) * UPPER_LOWER_SHARE)
    if group >= 1:
        share = totals[sat] / length[sat]
        order = sat[np.argsort(share, kind="stable")]
        lower, upper = np.zeros(n), np.zeros(n)
        lower[order[:group]] = 1.0
        upper[order[-group:]] = 1.0
        upper_lower = _divide(upper @ x0, had(upper)) - _divide(lower @ x0, had(lower))

    kr20: float | None = None
    if len(sat) >= 2:
        item_variance = np.nan_to_num(var_x)
        per_paper = np.full(len(sat), item_variance.sum()) if m is None else m[sat] @ item_variance
        expected = float(per_paper.mean())
        total_variance = float(totals[sat].var())
        mean_length = float(length[sat].mean())
        if total_variance > 0 and mean_length > 1:
            kr20 = mean_length / (mean_length - 1) * (1 - expected / total_variance)

    option_counts: npt.NDArray[np.int64] | None = None
    if responses.choices is not None:
        chosen = np.asarray(responses.choices, dtype=np.uint8)
        if not dense:
            chosen = np.where(present, chosen, 0)
        option_counts = np.empty((k, 9), dtype=np.int64)
        option_counts[:, 0] = np.count_nonzero(present & (chosen == 0), axis=0)
        for bit in range(8):
            option_counts[:, 1 + bit] = np.count_nonzero(chosen & (1 << bit), axis=0)

    return ItemAnalysis(
        question_ids=responses.question_ids,
        attempts=n,
        responses=count.astype(np.int64),
        difficulty=difficulty,
        point_biserial=point_biserial,
        upper_lower=upper_lower,
        kr20=kr20,
        option_counts=option_counts,
        option_ids=responses.option_ids,
        thresholds=thresholds or Thresholds(),
    )
