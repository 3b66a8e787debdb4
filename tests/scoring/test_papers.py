"""Theory papers: drawn from the blueprint, seeded, shuffled, stored as plain data, shown without the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curricula import catalogue
from curricula.model import Curriculum, QuestionType
from scoring.errors import PaperFormatError, PaperMismatch
from scoring.papers import Paper, answer_key, generate_paper, paper_view
from tests.scoring.build import bank, curriculum, with_answer

WITH_THEORY = sorted(
    code for code, c in catalogue().curricula.items() if c.assessment.theory is not None
)
seeds = st.one_of(st.text(max_size=40), st.integers())


class TestGeneratePaper:
    @pytest.mark.parametrize("code", WITH_THEORY)
    def test_draws_what_the_blueprint_asks_per_topic_and_type(self, code: str) -> None:
        c = catalogue().curricula[code]
        blueprint = c.assessment.theory
        assert blueprint is not None
        paper = generate_paper(c, "seed")
        drawn = Counter((q.topic, q.type) for q in paper.questions)
        wanted = {
            (d.topic, t): d.count(t) for d in blueprint.draws for t in QuestionType if d.count(t)
        }
        assert drawn == wanted
        assert paper.total_points == 100
        questions = bank(c)
        for pq in paper.questions:
            assert questions[pq.question_id].topic == pq.topic
            assert questions[pq.question_id].type is pq.type

    @pytest.mark.parametrize("code", WITH_THEORY)
    @given(seed=seeds)
    @settings(max_examples=25)
    def test_no_question_twice_and_options_are_the_banks(self, code: str, seed: str | int) -> None:
        c = catalogue().curricula[code]
        paper = generate_paper(c, seed)
        ids = [q.question_id for q in paper.questions]
        assert len(ids) == len(set(ids))
        questions = bank(c)
        for pq in paper.questions:
            q = questions[pq.question_id]
            if q.type is QuestionType.true_false:
                assert pq.options == ("T", "F")  # 正确 before 错误, never shuffled
            else:
                assert sorted(pq.options) == [o.key for o in q.options]

    @given(seed=seeds)
    @settings(max_examples=50)
    def test_the_same_seed_gives_the_same_paper(self, seed: str | int) -> None:
        c = curriculum()
        assert generate_paper(c, seed) == generate_paper(c, seed)
        assert generate_paper(c, seed).to_dict() == generate_paper(c, str(seed)).to_dict()

    def test_different_seeds_give_different_papers(self) -> None:
        c = curriculum()
        papers = {json.dumps(generate_paper(c, f"trainee-{i}").to_dict()) for i in range(50)}
        assert len(papers) == 50

    def test_same_paper_in_another_process_with_another_hash_seed(self) -> None:
        script = (
            "import json; from curricula import catalogue; from scoring.papers import generate_paper;"
            "print(json.dumps(generate_paper(catalogue().curricula['NITRATION'], 'x-17').to_dict()))"
        )
        env = dict(os.environ, PYTHONHASHSEED="12345")
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
        ).stdout
        assert json.loads(out) == generate_paper(curriculum(), "x-17").to_dict()

    def test_sections_run_single_then_multiple_then_true_false(self) -> None:
        types = [q.type for q in generate_paper(curriculum(), 3).questions]
        assert types == sorted(types, key=[*QuestionType].index)

    def test_every_question_of_a_pool_is_drawn_about_equally(self) -> None:
        c = curriculum()
        pool = [q.id for q in c.questions if q.topic == "laws" and q.type is QuestionType.single]
        runs = 2000
        drawn = Counter(
            q.question_id
            for i in range(runs)
            for q in generate_paper(c, i).questions
            if q.question_id in pool
        )
        expected = runs * 3 / len(pool)  # the blueprint draws 3 single-choice laws questions
        for qid in pool:
            assert abs(drawn[qid] - expected) < 0.12 * expected, (qid, drawn[qid], expected)

    def test_the_right_option_lands_on_every_letter(self) -> None:
        c = curriculum()
        questions = bank(c)
        letters: Counter[str] = Counter()
        for i in range(400):
            paper = generate_paper(c, i)
            for pq in paper.questions:
                if pq.type is QuestionType.single:
                    letters[pq.label(questions[pq.question_id].answer[0])] += 1
        total = sum(letters.values())
        assert set(letters) == {"A", "B", "C", "D"}
        assert all(abs(n - total / 4) < 0.1 * total / 4 for n in letters.values())

    def test_a_curriculum_without_a_theory_exam(self) -> None:
        c = curriculum()
        no_theory = c.model_copy(
            update={"assessment": c.assessment.model_copy(update={"theory": None})}
        )
        with pytest.raises(PaperMismatch) as caught:
            generate_paper(no_theory, 1)
        assert caught.value.code == "no_theory_exam"


class TestPaperForTheTrainee:
    def test_view_has_no_key_and_no_explanation(self) -> None:
        c = curriculum()
        paper = generate_paper(c, "kiosk")
        shown = json.dumps(paper_view(paper, c).to_dict(), ensure_ascii=False)
        stored = json.dumps(paper.to_dict(), ensure_ascii=False)
        for q in c.questions:
            assert q.explanation.zh not in shown
        assert "answer" not in shown and "explanation" not in shown
        assert "answer" not in stored

    def test_view_lists_options_in_paper_order_with_letters(self) -> None:
        c = curriculum()
        paper = generate_paper(c, "kiosk")
        view = paper_view(paper, c)
        questions = bank(c)
        for pq, qv in zip(paper.questions, view.questions, strict=True):
            assert qv.question_id == pq.question_id
            assert [o.id for o in qv.options] == list(pq.options)
            if pq.type is QuestionType.true_false:
                assert [(o.id, o.zh) for o in qv.options] == [("T", "正确"), ("F", "错误")]
                continue
            assert [o.label for o in qv.options] == list("ABCDEFGH"[: len(pq.options)])
            texts = {o.key: o.zh for o in questions[pq.question_id].options}
            assert [o.zh for o in qv.options] == [texts[o.id] for o in qv.options]

    def test_key_letters_are_remapped_to_the_paper_order(self) -> None:
        c = curriculum()
        paper = generate_paper(c, "key")
        view = {q.question_id: q for q in paper_view(paper, c).questions}
        questions = bank(c)
        moved = 0
        for entry in answer_key(paper, c):
            q = questions[entry.question_id]
            assert sorted(entry.options) == sorted(q.answer)
            shown = {o.label: o.id for o in view[entry.question_id].options}
            assert [shown[label] for label in entry.labels] == list(entry.options)
            moved += entry.labels != tuple(sorted(q.answer))
        assert moved > 0  # shuffling does move keys

    def test_option_at_and_label_are_inverse(self) -> None:
        paper = generate_paper(curriculum(), "labels")
        for pq in paper.questions:
            for option in pq.options:
                assert pq.option_at(pq.label(option)) == option
        with pytest.raises(ValueError, match="no option"):
            paper.questions[0].option_at("H")


def stored(c: Curriculum | None = None, seed: str = "stored") -> dict[str, Any]:
    data = generate_paper(c or curriculum(), seed).to_dict()
    return json.loads(json.dumps(data))  # what comes back from the database


class TestStoredPaper:
    def test_round_trip_through_json(self) -> None:
        paper = generate_paper(curriculum("CHEM-REFRESHER"), "round")
        data = json.loads(json.dumps(paper.to_dict()))
        assert Paper.from_dict(data) == paper
        assert {q["points"] for q in data["questions"]} == {"3", "5", "2.5"}

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            (lambda d: d.pop("seed"), "seed"),
            (lambda d: d.update(format=2), "format"),
            (lambda d: d.update(partial_credit="no"), "partial_credit"),
            (lambda d: d.update(time_limit_minutes=True), "time_limit_minutes"),
            (lambda d: d["questions"][0].update(type="essay"), "questions[0].type"),
            (lambda d: d["questions"][0].update(points="four"), "questions[0].points"),
            (lambda d: d["questions"][0].update(points=4), "questions[0].points"),
            (lambda d: d["questions"][0].update(points="0"), "questions[0].points"),
            (lambda d: d["questions"][0].update(options=["A", "A", "B"]), "questions[0].options"),
            (lambda d: d["questions"][-1].update(options=["F", "T"]), "questions[-1].options"),
            (lambda d: d["questions"][1].update(id=d["questions"][0]["id"]), "questions"),
            (lambda d: d["questions"].pop(), "questions"),  # 98 points
            (lambda d: d["questions"][2].update(points="5"), "questions"),  # 101 points
            (lambda d: d.update(questions=[]), "questions"),
        ],
    )
    def test_malformed_names_the_field(self, change: Any, field: str) -> None:
        data = stored()
        change(data)
        if field == "questions[-1].options":
            field = f"questions[{len(data['questions']) - 1}].options"
        with pytest.raises(PaperFormatError) as caught:
            Paper.from_dict(data)
        assert caught.value.details == {"field": field}
        assert field in caught.value.en

    def test_view_refuses_a_paper_of_another_curriculum(self) -> None:
        paper = generate_paper(curriculum("NITRATION"), 1)
        with pytest.raises(PaperMismatch):
            paper_view(paper, curriculum("OXIDATION"))

    def test_view_refuses_a_bank_whose_key_changed(self) -> None:
        c = curriculum()
        paper = generate_paper(c, 1)
        first = bank(c)[paper.questions[0].question_id]
        other = next(o.key for o in first.options if o.key not in first.answer)
        with pytest.raises(PaperMismatch) as caught:
            answer_key(paper, with_answer(c, first.id, (other,)))
        assert caught.value.code == "bank_changed"
