"""Grading theory papers: keys, partial credit, the pass mark, bad answers, re-grading from storage."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curricula.model import QuestionType
from scoring.answers import AnswerSheet, check_answer
from scoring.errors import InvalidAnswer, PaperMismatch
from scoring.grading import Grader, grade_paper
from scoring.papers import Paper, generate_paper
from tests.scoring.build import (
    ORDER_19_DAY,
    ORDER_30_DAY,
    bank,
    curriculum,
    right_answers,
    theory_rule,
    with_answer,
    wrong_answer,
)

RULE = theory_rule()
NITRATION = curriculum()
PARTIAL = curriculum("CHEM-REFRESHER", partial_credit=True)  # 3 / 5 / 2.5 points


def _wrong(paper: Paper, qtype: QuestionType, n: int) -> dict[str, list[str]]:
    """All right but the first n questions of a type, which are answered wrongly."""
    answers = right_answers(paper, NITRATION)
    questions = bank(NITRATION)
    for pq in [q for q in paper.questions if q.type is qtype][:n]:
        answers[pq.question_id] = wrong_answer(questions[pq.question_id])
    return answers


class TestScore:
    def test_all_right_is_100_and_passes(self) -> None:
        paper = generate_paper(NITRATION, 1)
        grade = grade_paper(paper, right_answers(paper, NITRATION), NITRATION, rule=RULE)
        assert grade.result.score == Decimal("100.0")
        assert grade.result.passed
        assert grade.result.codes == ("passed",)

    def test_nothing_answered_is_0(self) -> None:
        paper = generate_paper(NITRATION, 1)
        grade = grade_paper(paper, {}, NITRATION, rule=RULE)
        assert grade.result.score == Decimal("0.0")
        assert not grade.result.passed
        assert grade.result.codes == ("below_pass_mark", "unanswered")
        assert grade.result.reasons[1].zh == "有 30 道题未作答，未作答的题不得分"

    def test_exactly_the_pass_mark_passes(self) -> None:
        # 5 single-choice questions of 4 points wrong: 100 − 20 = 80, and ≥ 80 passes.
        paper = generate_paper(NITRATION, 2)
        grade = grade_paper(paper, _wrong(paper, QuestionType.single, 5), NITRATION, rule=RULE)
        assert grade.result.exact == 80
        assert grade.result.score == Decimal("80.0")
        assert grade.result.passed
        assert grade.result.reasons[0].zh == (
            "理论考试成绩 80.0 分，达到合格线 80 分（80 分及以上为合格）：合格"
        )

    def test_just_below_the_pass_mark_fails(self) -> None:
        paper = generate_paper(NITRATION, 2)
        answers = _wrong(paper, QuestionType.single, 5)
        questions = bank(NITRATION)
        tf = next(q for q in paper.questions if q.type is QuestionType.true_false)
        answers[tf.question_id] = wrong_answer(questions[tf.question_id])
        grade = grade_paper(paper, answers, NITRATION, rule=RULE)
        assert grade.result.score == Decimal("78.0")
        assert not grade.result.passed
        assert grade.result.reasons[0].en == (
            "Theory exam: 78.0, below the pass mark of 80: not passed"
        )

    def test_pass_mark_comes_from_the_rule_given(self) -> None:
        paper = generate_paper(NITRATION, 2)
        answers = _wrong(paper, QuestionType.single, 5)
        strict = RULE.model_copy(update={"pass_mark": 85})
        assert not grade_paper(paper, answers, NITRATION, rule=strict).result.passed
        assert grade_paper(paper, answers, NITRATION, rule=theory_rule(ORDER_30_DAY)).result.passed

    def test_multiple_choice_is_all_or_nothing_by_default(self) -> None:
        paper = generate_paper(NITRATION, 3)
        questions = bank(NITRATION)
        answers = right_answers(paper, NITRATION)
        multiple = next(q for q in paper.questions if q.type is QuestionType.multiple)
        answers[multiple.question_id] = list(questions[multiple.question_id].answer[:1])
        grade = grade_paper(paper, answers, NITRATION, rule=RULE)
        assert grade.result.exact == 96

    def test_breakdown_per_topic(self) -> None:
        paper = generate_paper(NITRATION, 4)
        answers = right_answers(paper, NITRATION)
        questions = bank(NITRATION)
        laws = [q for q in paper.questions if q.topic == "laws"]
        for pq in laws[:2]:
            answers[pq.question_id] = wrong_answer(questions[pq.question_id])
        grade = grade_paper(paper, answers, NITRATION, rule=RULE)
        lines = {b.code: b for b in grade.result.breakdown}
        assert [b.code for b in grade.result.breakdown] == [t.code for t in NITRATION.topics]
        lost = sum(pq.points for pq in laws[:2])
        assert lines["laws"].earned == 20 - lost
        assert lines["laws"].possible == 20
        assert (lines["laws"].correct, lines["laws"].count) == (4, 6)
        assert lines["controls"].percent == Decimal("100.0")
        assert sum(b.earned for b in grade.result.breakdown) == grade.result.exact

    def test_order_of_chosen_options_does_not_matter(self) -> None:
        paper = generate_paper(NITRATION, 5)
        answers = {k: list(reversed(v)) for k, v in right_answers(paper, NITRATION).items()}
        assert grade_paper(paper, answers, NITRATION, rule=RULE).result.exact == 100

    def test_a_letter_on_the_screen_is_turned_into_an_option_id(self) -> None:
        paper = generate_paper(NITRATION, 6)
        questions = bank(NITRATION)
        pq = next(q for q in paper.questions if q.type is QuestionType.single)
        right = questions[pq.question_id].answer[0]
        chosen = pq.option_at(pq.label(right))
        grade = grade_paper(paper, {pq.question_id: [chosen]}, NITRATION, rule=RULE)
        assert grade.outcomes[0].correct


class TestPartialCredit:
    def _paper_and_multiple(self) -> tuple[Paper, str, tuple[str, ...]]:
        paper = generate_paper(PARTIAL, 7)
        questions = bank(PARTIAL)
        pq = next(
            q
            for q in paper.questions
            if q.type is QuestionType.multiple and len(questions[q.question_id].answer) >= 3
        )
        return paper, pq.question_id, questions[pq.question_id].answer

    def test_share_of_the_right_options_chosen(self) -> None:
        paper, qid, key = self._paper_and_multiple()
        answers = right_answers(paper, PARTIAL)
        answers[qid] = list(key[:2])
        grade = grade_paper(paper, answers, PARTIAL, rule=RULE)
        outcome = next(o for o in grade.outcomes if o.question_id == qid)
        assert outcome.credit == Fraction(5) * 2 / len(key)
        assert grade.result.exact == 100 - 5 + Fraction(5) * 2 / len(key)

    def test_a_wrong_option_earns_nothing(self) -> None:
        paper, qid, key = self._paper_and_multiple()
        wrong = next(o.key for o in bank(PARTIAL)[qid].options if o.key not in key)
        answers = right_answers(paper, PARTIAL)
        answers[qid] = [key[0], wrong]
        assert grade_paper(paper, answers, PARTIAL, rule=RULE).result.exact == 95

    def test_single_choice_and_true_false_have_no_partial_credit(self) -> None:
        paper = generate_paper(PARTIAL, 8)
        questions = bank(PARTIAL)
        answers = right_answers(paper, PARTIAL)
        for qtype in (QuestionType.single, QuestionType.true_false):
            pq = next(q for q in paper.questions if q.type is qtype)
            answers[pq.question_id] = wrong_answer(questions[pq.question_id])
        assert grade_paper(paper, answers, PARTIAL, rule=RULE).result.exact == 100 - 3 - 2.5

    def test_thirds_stay_exact(self) -> None:
        # Three-answer multiple-choice questions answered with 1 of 3: thirds of 4 points add
        # up exactly, and the score is recorded rounded down.
        c = curriculum("NITRATION", partial_credit=True)
        questions = bank(c)
        paper = next(
            p
            for p in (generate_paper(c, seed) for seed in range(100))
            if sum(len(questions[q.question_id].answer) == 3 for q in p.questions) >= 2
        )
        answers = right_answers(paper, c)
        thirds = [qid for qid in answers if len(questions[qid].answer) == 3]
        for qid in thirds:
            answers[qid] = [questions[qid].answer[0]]
        grade = grade_paper(paper, answers, c, rule=RULE)
        exact = 100 - Fraction(8, 3) * len(thirds)
        assert grade.result.exact == exact
        assert grade.result.score == Decimal(int(exact * 10)) / 10
        assert str(grade.result.score) == str(Decimal(int(exact * 10)).scaleb(-1))


class TestBadAnswers:
    @pytest.mark.parametrize(
        ("answer", "code"),
        [
            (["Z"], "unknown_option"),
            (["A", "A"], "repeated_option"),
            ("A", "bad_option"),
            ([1], "bad_option"),
        ],
    )
    def test_refused_with_a_code(self, answer: object, code: str) -> None:
        paper = generate_paper(NITRATION, 10)
        pq = paper.questions[0]
        with pytest.raises(InvalidAnswer) as caught:
            grade_paper(paper, {pq.question_id: answer}, NITRATION, rule=RULE)  # type: ignore[dict-item]
        assert caught.value.code == code
        assert caught.value.details == {"question": pq.question_id}
        with pytest.raises(InvalidAnswer):
            check_answer(pq, answer)  # type: ignore[arg-type]

    def test_two_options_on_a_single_choice_question(self) -> None:
        paper = generate_paper(NITRATION, 10)
        pq = next(q for q in paper.questions if q.type is QuestionType.single)
        with pytest.raises(InvalidAnswer) as caught:
            check_answer(pq, list(pq.options[:2]))
        assert caught.value.code == "one_option"

    def test_true_false_takes_t_or_f(self) -> None:
        paper = generate_paper(NITRATION, 10)
        pq = next(q for q in paper.questions if q.type is QuestionType.true_false)
        assert check_answer(pq, ["F"]) == ("F",)
        with pytest.raises(InvalidAnswer):
            check_answer(pq, ["A"])

    def test_a_question_not_on_the_paper(self) -> None:
        paper = generate_paper(NITRATION, 10)
        other = next(q.id for q in NITRATION.questions if paper.question(q.id) is None)
        with pytest.raises(InvalidAnswer) as caught:
            grade_paper(paper, {other: ["A"]}, NITRATION, rule=RULE)
        assert caught.value.code == "unknown_question"

    def test_a_sheet_bit_no_option_has(self) -> None:
        paper = generate_paper(NITRATION, 10)
        tf = next(i for i, q in enumerate(paper.questions) if q.type is QuestionType.true_false)
        marks = bytearray(len(paper.questions))
        marks[tf] = 0b100
        with pytest.raises(InvalidAnswer) as caught:
            Grader(NITRATION).grade(paper, AnswerSheet(bytes(marks)), rule=RULE)
        assert caught.value.code == "unknown_option"

    def test_check_answer_returns_the_paper_order(self) -> None:
        paper = generate_paper(NITRATION, 11)
        pq = next(q for q in paper.questions if q.type is QuestionType.multiple)
        assert check_answer(pq, sorted(pq.options, reverse=True)) == pq.options
        assert check_answer(pq, []) == ()


class TestWhichBank:
    def test_another_curriculum(self) -> None:
        paper = generate_paper(NITRATION, 12)
        with pytest.raises(PaperMismatch):
            grade_paper(paper, {}, curriculum("OXIDATION"), rule=RULE)

    def test_a_changed_key_is_refused(self) -> None:
        paper = generate_paper(NITRATION, 12)
        q = bank(NITRATION)[paper.questions[0].question_id]
        changed = with_answer(NITRATION, q.id, tuple(wrong_answer(q)))
        with pytest.raises(PaperMismatch) as caught:
            grade_paper(paper, right_answers(paper, NITRATION), changed, rule=RULE)
        assert caught.value.code == "bank_changed"

    def test_a_new_version_with_the_same_keys_grades_alike(self) -> None:
        paper = generate_paper(NITRATION, 12)
        answers = right_answers(paper, NITRATION)
        newer = curriculum(version="2027.1")
        assert grade_paper(paper, answers, newer, rule=RULE).result.exact == 100

    def test_a_bank_that_lost_a_question(self) -> None:
        paper = generate_paper(NITRATION, 12)
        gone = paper.questions[3].question_id
        smaller = NITRATION.model_copy(
            update={"questions": tuple(q for q in NITRATION.questions if q.id != gone)}
        )
        with pytest.raises(PaperMismatch) as caught:
            grade_paper(paper, {}, smaller, rule=RULE)
        assert caught.value.details == {"question": gone}


class TestRegradeFromStorage:
    def test_stored_paper_and_sheet_grade_the_same(self) -> None:
        paper = generate_paper(PARTIAL, 13)
        questions = bank(PARTIAL)
        answers = right_answers(paper, PARTIAL)
        for pq in paper.questions[::3]:
            answers[pq.question_id] = wrong_answer(questions[pq.question_id])
        first = grade_paper(paper, answers, PARTIAL, rule=RULE)
        stored_paper = json.loads(json.dumps(paper.to_dict()))
        stored_sheet = first.sheet.to_text()
        again_paper = Paper.from_dict(stored_paper)
        again = Grader(PARTIAL).grade(
            again_paper, AnswerSheet.from_text(again_paper, stored_sheet), rule=RULE
        )
        assert again.result == first.result
        assert again.to_dict() == first.to_dict()

    def test_sheet_saved_one_answer_at_a_time(self) -> None:
        paper = generate_paper(NITRATION, 14)
        answers = right_answers(paper, NITRATION)
        sheet = AnswerSheet.blank(paper)
        for qid, chosen in answers.items():
            sheet = sheet.with_answer(paper, qid, chosen)
        assert sheet == AnswerSheet.from_answers(paper, answers)
        assert sheet.chosen(paper) == {
            qid: check_answer(paper.question(qid), chosen)  # type: ignore[arg-type]
            for qid, chosen in answers.items()
        }
        cleared = sheet.with_answer(paper, paper.questions[0].question_id, [])
        assert paper.questions[0].question_id not in cleared.chosen(paper)

    def test_sheet_of_the_wrong_length(self) -> None:
        paper = generate_paper(NITRATION, 14)
        with pytest.raises(InvalidAnswer) as caught:
            AnswerSheet.from_text(paper, "00" * 29)
        assert caught.value.code == "bad_sheet"
        with pytest.raises(InvalidAnswer):
            AnswerSheet.from_text(paper, "zz" * 30)

    def test_result_to_dict_is_plain_json(self) -> None:
        paper = generate_paper(NITRATION, 15)
        data = grade_paper(paper, _wrong(paper, QuestionType.single, 1), NITRATION, rule=RULE)
        body = json.loads(json.dumps(data.to_dict()))
        assert body["score"] == "96.0" and body["passed"] is True and body["part"] == "theory"
        assert body["pass_mark"] == "80"
        assert len(body["questions"]) == 30
        assert sum(not q["correct"] for q in body["questions"]) == 1


@st.composite
def sittings(draw: st.DrawFn) -> tuple[Paper, dict[str, list[str]]]:
    """A paper of the partial-credit refresher and some answers: right, wrong, partial or blank."""
    paper = generate_paper(PARTIAL, draw(st.integers(0, 10**6)))
    answers: dict[str, list[str]] = {}
    for pq in paper.questions:
        chosen = draw(st.lists(st.sampled_from(pq.options), unique=True, max_size=len(pq.options)))
        if pq.type is not QuestionType.multiple:
            chosen = chosen[:1]
        if chosen:
            answers[pq.question_id] = chosen
    return paper, answers


class TestProperties:
    @given(sitting=sittings())
    @settings(max_examples=150)
    def test_score_stays_within_0_and_100(
        self, sitting: tuple[Paper, dict[str, list[str]]]
    ) -> None:
        paper, answers = sitting
        result = grade_paper(paper, answers, PARTIAL, rule=RULE).result
        assert 0 <= result.exact <= 100
        assert Decimal(0) <= result.score <= Decimal(100)
        assert result.passed == (result.exact >= 80)

    @given(sitting=sittings(), data=st.data())
    @settings(max_examples=150)
    def test_answering_one_more_question_right_never_lowers_the_score(
        self, sitting: tuple[Paper, dict[str, list[str]]], data: st.DataObject
    ) -> None:
        paper, answers = sitting
        pq = data.draw(st.sampled_from(paper.questions))
        before = grade_paper(paper, answers, PARTIAL, rule=RULE).result.exact
        answers[pq.question_id] = list(bank(PARTIAL)[pq.question_id].answer)
        after = grade_paper(paper, answers, PARTIAL, rule=RULE).result.exact
        assert after >= before

    @given(sitting=sittings(), data=st.data(), partial=st.booleans())
    @settings(max_examples=150)
    def test_adding_a_right_option_never_lowers_the_score(
        self, sitting: tuple[Paper, dict[str, list[str]]], data: st.DataObject, partial: bool
    ) -> None:
        paper, answers = sitting
        c = PARTIAL if partial else curriculum("CHEM-REFRESHER", partial_credit=False)
        paper = Paper.from_dict(paper.to_dict() | {"partial_credit": partial})
        questions = bank(c)
        multiples = [q for q in paper.questions if q.type is QuestionType.multiple]
        pq = data.draw(st.sampled_from(multiples))
        key = questions[pq.question_id].answer
        missing = [o for o in key if o not in answers.get(pq.question_id, [])]
        if not missing:
            return
        before = grade_paper(paper, answers, c, rule=RULE).result.exact
        answers[pq.question_id] = [
            *answers.get(pq.question_id, []),
            data.draw(st.sampled_from(missing)),
        ]
        assert grade_paper(paper, answers, c, rule=RULE).result.exact >= before

    @given(st.lists(sittings(), min_size=1, max_size=6))
    @settings(max_examples=40)
    def test_a_batch_grades_as_each_paper_alone(
        self, batch: list[tuple[Paper, dict[str, list[str]]]]
    ) -> None:
        grader = Grader(PARTIAL)
        papers = [p for p, _ in batch]
        sheets = [AnswerSheet.from_answers(p, a) for p, a in batch]
        together = grader.grade_many(papers, sheets, rule=RULE)
        alone = [grader.grade(p, a, rule=RULE) for p, a in batch]
        assert [g.result for g in together] == [g.result for g in alone]
        assert [g.outcomes for g in together] == [g.outcomes for g in alone]

    @given(sitting=sittings())
    @settings(max_examples=80)
    def test_credit_per_question_adds_up_to_the_score(
        self, sitting: tuple[Paper, dict[str, list[str]]]
    ) -> None:
        paper, answers = sitting
        grade = grade_paper(paper, answers, PARTIAL, rule=RULE)
        questions = bank(PARTIAL)
        total = Fraction(0)
        for o in grade.outcomes:
            key = set(questions[o.question_id].answer)
            chosen = set(o.chosen)
            if chosen == key:
                expected = o.points
            elif o.type is QuestionType.multiple and chosen and chosen < key:
                expected = o.points * len(chosen) / len(key)
            else:
                expected = Fraction(0)
            assert o.credit == expected
            total += o.credit
        assert grade.result.exact == total


def test_order_19_and_order_30_pass_marks_alike() -> None:
    assert theory_rule(ORDER_30_DAY).pass_mark == theory_rule(ORDER_19_DAY).pass_mark == 80
