"""Item analysis: checked against a hand-worked example and a plain per-question computation."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curricula.model import QuestionType
from scoring.answers import AnswerSheet
from scoring.grading import Grader
from scoring.items import ItemFlag, Responses, Thresholds, analyse_items, responses_from_grades
from scoring.papers import generate_paper
from tests.scoring.build import bank, curriculum, right_answers, theory_rule, wrong_answer


def ids(k: int) -> tuple[str, ...]:
    return tuple(f"Q{j}" for j in range(k))


def reference(x: npt.NDArray[np.float64]) -> dict[str, list[float]]:
    """Per question, the textbook formulas on the attempts that had it, one question at a time."""
    present = ~np.isnan(x)
    totals = np.nansum(x, axis=1)
    sat = [i for i in range(x.shape[0]) if present[i].any()]  # attempts with a paper at all
    group = int(len(sat) * 0.27)
    order = sorted(sat, key=lambda i: totals[i] / present[i].sum())  # stable: ties by row
    lower, upper = set(order[:group]), set(order[len(order) - group :])
    out: dict[str, list[float]] = {"p": [], "r": [], "d": []}
    for j in range(x.shape[1]):
        rows = np.flatnonzero(present[:, j])
        item = x[rows, j]
        rest = totals[rows] - item
        out["p"].append(item.mean() if len(rows) else math.nan)
        if len(rows) > 1 and item.std() > 0 and rest.std() > 0:
            out["r"].append(float(np.corrcoef(item, rest)[0, 1]))
        else:
            out["r"].append(math.nan)
        up = [x[i, j] for i in rows if i in upper]
        low = [x[i, j] for i in rows if i in lower]
        out["d"].append(np.mean(up) - np.mean(low) if up and low else math.nan)
    return out


def simulated(n: int, k: int, seed: int, gaps: float = 0.0) -> npt.NDArray[np.float64]:
    """Right or wrong from ability − difficulty (a Rasch model), some cells not on the paper."""
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=(n, 1))
    difficulty = rng.normal(size=(1, k))
    x = (rng.random((n, k)) < 1 / (1 + np.exp(difficulty - ability))).astype(np.float64)
    x[rng.random((n, k)) < gaps] = np.nan
    return x


class TestHandWorked:
    # totals 3, 2, 1, 0: mean 1.5, population variance 1.25; p = .75, .5, .25;
    # Σpq = .1875 + .25 + .1875 = .625; KR-20 = 3/2 · (1 − .625 / 1.25) = 0.75.
    X = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float64)

    def test_kr20(self) -> None:
        analysis = analyse_items(Responses(ids(3), self.X))
        assert analysis.kr20 == pytest.approx(0.75)

    def test_difficulty(self) -> None:
        analysis = analyse_items(Responses(ids(3), self.X))
        assert analysis.difficulty.tolist() == [0.75, 0.5, 0.25]

    def test_upper_lower_with_one_attempt_each(self) -> None:
        # 27 % of 4 attempts is 1: the best (1, 1, 1) against the worst (0, 0, 0).
        analysis = analyse_items(Responses(ids(3), self.X))
        assert analysis.upper_lower.tolist() == [1.0, 1.0, 1.0]

    def test_identical_totals_have_no_reliability(self) -> None:
        same = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float64)
        assert analyse_items(Responses(ids(2), same)).kr20 is None


class TestAgainstThePlainComputation:
    @pytest.mark.parametrize("gaps", [0.0, 0.4])
    def test_random_matrices(self, gaps: float) -> None:
        x = simulated(400, 12, seed=5, gaps=gaps)
        analysis = analyse_items(Responses(ids(12), x))
        expected = reference(x)
        assert analysis.difficulty == pytest.approx(expected["p"], nan_ok=True)
        assert analysis.point_biserial == pytest.approx(expected["r"], nan_ok=True, abs=1e-9)
        assert analysis.upper_lower == pytest.approx(expected["d"], nan_ok=True)

    @given(seed=st.integers(0, 10**6), n=st.integers(5, 80), k=st.integers(2, 8))
    @settings(max_examples=60, deadline=None)
    def test_properties(self, seed: int, n: int, k: int) -> None:
        x = simulated(n, k, seed, gaps=0.2)
        analysis = analyse_items(Responses(ids(k), x))
        expected = reference(x)
        assert analysis.difficulty == pytest.approx(expected["p"], nan_ok=True)
        assert analysis.point_biserial == pytest.approx(expected["r"], nan_ok=True, abs=1e-7)
        finite = analysis.point_biserial[~np.isnan(analysis.point_biserial)]
        assert np.all(np.abs(finite) <= 1 + 1e-9)

    def test_kr20_of_a_dense_matrix_is_the_textbook_one(self) -> None:
        x = simulated(500, 20, seed=9)
        p = x.mean(axis=0)
        expected = 20 / 19 * (1 - (p * (1 - p)).sum() / x.sum(axis=1).var())
        assert analyse_items(Responses(ids(20), x)).kr20 == pytest.approx(expected)

    def test_kr20_of_a_consistent_test_is_high_and_of_noise_low(self) -> None:
        consistent = analyse_items(Responses(ids(40), simulated(2000, 40, seed=1))).kr20
        noise = np.random.default_rng(2).integers(0, 2, size=(2000, 40)).astype(np.float64)
        random = analyse_items(Responses(ids(40), noise)).kr20
        assert consistent is not None and random is not None
        assert consistent > 0.8 and abs(random) < 0.15


class TestFlags:
    def test_too_easy_too_hard_and_negative(self) -> None:
        x = simulated(1000, 20, seed=3)
        rest = x[:, 3:].sum(axis=1)
        x[:, 0] = 1.0  # everyone right
        x[:, 1] = 0.0  # nobody right but 50
        x[:50, 1] = 1.0
        x[:, 2] = (rest <= np.median(rest)).astype(np.float64)  # only the weaker get it right
        analysis = analyse_items(Responses(ids(20), x))
        flags = {s.question_id: s.flags for s in analysis.items()}
        assert ItemFlag.too_easy in flags["Q0"]
        assert ItemFlag.too_hard in flags["Q1"]
        assert ItemFlag.negative_discrimination in flags["Q2"]
        assert analysis.point_biserial[2] < 0 and analysis.upper_lower[2] < 0
        assert {s.question_id for s in analysis.flagged()} >= {"Q0", "Q1", "Q2"}

    def test_too_few_responses_say_nothing_else(self) -> None:
        x = simulated(200, 3, seed=4)
        x[10:, 0] = np.nan  # only 10 had question 0, all of them right
        x[:10, 0] = 1.0
        x[:, 1] = np.nan  # nobody had question 1
        analysis = analyse_items(Responses(ids(3), x), Thresholds(min_responses=30))
        q0, q1, _ = analysis.items()
        assert q0.flags == (ItemFlag.few_responses,) and q0.responses == 10
        assert q1.flags == (ItemFlag.few_responses,)
        assert q1.difficulty is None and q1.point_biserial is None
        assert "Q0" not in {s.question_id for s in analysis.flagged()}

    def test_shape_is_checked(self) -> None:
        with pytest.raises(ValueError, match="questions"):
            Responses(ids(3), np.zeros((4, 2)))


class TestFromGradedPapers:
    def test_counts_options_as_chosen_on_the_sheets(self) -> None:
        c = curriculum()
        questions = bank(c)
        grader = Grader(c)
        rng = np.random.default_rng(11)
        grades = []
        chosen: Counter[tuple[str, str]] = Counter()
        blank: Counter[str] = Counter()
        for seed in range(60):
            paper = generate_paper(c, seed)
            answers = right_answers(paper, c)
            for pq in paper.questions:
                roll = rng.random()
                if roll < 0.2:
                    answers[pq.question_id] = wrong_answer(questions[pq.question_id])
                elif roll < 0.25:
                    del answers[pq.question_id]
                    blank[pq.question_id] += 1
                for option in answers.get(pq.question_id, []):
                    chosen[(pq.question_id, option)] += 1
            grades.append(
                grader.grade(paper, AnswerSheet.from_answers(paper, answers), rule=theory_rule())
            )
        responses = responses_from_grades(grades, c)
        analysis = analyse_items(responses)
        for stats in analysis.items():
            q = questions[stats.question_id]
            assert stats.option_counts is not None
            for option, n in stats.option_counts.items():
                assert n == chosen[(q.id, option)]
            assert stats.blank == blank[q.id]
            on_papers = sum(g.paper.question(q.id) is not None for g in grades)
            assert stats.responses == on_papers
            if q.type is QuestionType.true_false:
                assert set(stats.option_counts) == {"T", "F"}

    def test_partial_credit_shares(self) -> None:
        c = curriculum(partial_credit=True)
        questions = bank(c)
        paper = generate_paper(c, 1)
        answers = right_answers(paper, c)
        pq = next(q for q in paper.questions if len(questions[q.question_id].answer) == 3)
        answers[pq.question_id] = [questions[pq.question_id].answer[0]]
        grade = Grader(c).grade(paper, answers, rule=theory_rule())
        responses = responses_from_grades([grade], c)
        column = responses.question_ids.index(pq.question_id)
        assert responses.scores[0, column] == pytest.approx(1 / 3)
        assert np.nansum(responses.scores) == pytest.approx(len(paper.questions) - 2 / 3)
