"""Practical checklists: weighted subjects, deductions with a floor of 0 per item, veto items."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curricula.model import PracticalBlueprint
from scoring.errors import InvalidMarks
from scoring.practical import ItemMark, grade_practical
from tests.scoring.build import ORDER_19_DAY, curriculum, rules_on

RULE = rules_on(ORDER_19_DAY).practical


def blueprint(code: str = "NITRATION") -> PracticalBlueprint:
    practical = curriculum(code).assessment.practical
    assert practical is not None
    return practical


NITRATION = blueprint()
ITEMS = {i.code: i for s in NITRATION.subjects for i in s.items}
WEIGHTS = {s.code: Fraction(s.weight) for s in NITRATION.subjects}


def clean(bp: PracticalBlueprint = NITRATION, **changed: ItemMark) -> list[ItemMark]:
    """Every item marked with nothing wrong, except the marks given by item code."""
    marks = {i.code: ItemMark(i.code) for s in bp.subjects for i in s.items}
    marks.update({code.replace("_", "-"): m for code, m in changed.items()})
    return list(marks.values())


class TestPoints:
    def test_nothing_wrong_is_100(self) -> None:
        grade = grade_practical(NITRATION, clean(), rule=RULE)
        assert grade.result.score == Decimal("100.0")
        assert grade.result.passed
        assert grade.result.part == "practical"
        assert [b.code for b in grade.result.breakdown] == ["K1", "K3", "K4"]
        assert [b.possible for b in grade.result.breakdown] == [40, 30, 30]

    def test_deductions_count_within_the_subjects_weight(self) -> None:
        # K1-1: cylinder pressure not checked (−10) in K1, weighted 40: 10 × 40 / 100 = 4.
        grade = grade_practical(NITRATION, clean(K1_1=ItemMark("K1-1", (0,))), rule=RULE)
        assert ITEMS["K1-1"].deductions[0].points == 10
        assert grade.result.exact == 100 - Fraction(10) * WEIGHTS["K1"] / 100
        k1 = grade.result.breakdown[0]
        assert (k1.earned, k1.percent) == (36, Decimal("90.0"))

    def test_a_deduction_may_apply_more_than_once(self) -> None:
        # K3-1: each hazard missed −10; three missed.
        grade = grade_practical(NITRATION, clean(K3_1=ItemMark("K3-1", (0, 0, 0))), rule=RULE)
        item = next(i for i in grade.items if i.item == "K3-1")
        assert (item.deducted, item.score) == (30, 10)
        assert grade.result.exact == 100 - Fraction(30) * WEIGHTS["K3"] / 100

    def test_an_item_never_goes_below_zero(self) -> None:
        # K3-4 is worth 10; 5 + 5 + 5 + 5 of deductions only takes its 10.
        grade = grade_practical(NITRATION, clean(K3_4=ItemMark("K3-4", (0, 1, 0, 1))), rule=RULE)
        item = next(i for i in grade.items if i.item == "K3-4")
        assert (item.points, item.deducted, item.score) == (10, 20, 0)
        assert grade.result.exact == 100 - Fraction(10) * WEIGHTS["K3"] / 100

    def test_an_item_not_performed_scores_nothing(self) -> None:
        grade = grade_practical(
            NITRATION, clean(K4_1=ItemMark("K4-1", not_performed=True)), rule=RULE
        )
        assert grade.result.exact == 100 - Fraction(40) * WEIGHTS["K4"] / 100

    def test_exactly_80_passes(self) -> None:
        # K1 loses 50 of its 100 (K1-1 not performed, 35; K1-3 three times 5): 50 × 40 / 100 = 20.
        marks = clean(K1_1=ItemMark("K1-1", not_performed=True), K1_3=ItemMark("K1-3", (0, 1, 2)))
        grade = grade_practical(NITRATION, marks, rule=RULE)
        assert grade.result.exact == 80
        assert grade.result.passed
        assert grade.result.codes == ("passed",)

    def test_79_point_something_fails(self) -> None:
        marks = clean(
            K1_1=ItemMark("K1-1", not_performed=True),
            K1_3=ItemMark("K1-3", (0, 1, 2)),
            K3_4=ItemMark("K3-4", (0,)),  # −5 × 30 / 100 = −1.5
        )
        grade = grade_practical(NITRATION, marks, rule=RULE)
        assert grade.result.score == Decimal("78.5")
        assert not grade.result.passed
        assert grade.result.reasons[0].zh == "实际操作考试成绩 78.5 分，低于合格线 80 分：不合格"

    def test_fractional_weights_stay_exact(self) -> None:
        thirds = NITRATION.model_copy(
            update={
                "subjects": tuple(
                    s.model_copy(update={"weight": w})
                    for s, w in zip(NITRATION.subjects, (33.3, 33.3, 33.4), strict=True)
                )
            }
        )
        grade = grade_practical(thirds, clean(thirds, K1_1=ItemMark("K1-1", (0,))), rule=RULE)
        assert grade.result.exact == 100 - Fraction(333, 10) * 10 / 100
        assert grade.result.score == Decimal("96.6")


class TestVeto:
    def test_a_failed_veto_item_fails_whatever_the_points(self) -> None:
        grade = grade_practical(
            NITRATION, clean(K4_V=ItemMark("K4-V", veto_failed=True)), rule=RULE
        )
        assert grade.result.exact == 100
        assert not grade.result.passed
        [failure] = grade.result.veto
        assert (failure.subject, failure.item) == ("K4", "K4-V")
        assert failure.zh == ITEMS["K4-V"].text.zh
        assert grade.result.codes == ("veto_failed",)
        assert ITEMS["K4-V"].text.zh in grade.result.reasons[0].zh
        assert "与得分无关" in grade.result.reasons[0].zh
        assert "whatever the score" in grade.result.reasons[0].en

    def test_every_failed_veto_item_is_named(self) -> None:
        marks = clean(
            K1_V=ItemMark("K1-V", veto_failed=True),
            K4_V=ItemMark("K4-V", veto_failed=True),
            K3_1=ItemMark("K3-1", (0, 0, 0, 0)),
        )
        grade = grade_practical(NITRATION, marks, rule=RULE)
        assert [v.item for v in grade.result.veto] == ["K1-V", "K4-V"]
        assert grade.result.exact == 100 - Fraction(40) * WEIGHTS["K3"] / 100  # 88: above 80
        assert grade.result.codes == ("veto_failed", "veto_failed")  # and no "passed"

    def test_veto_item_passed_counts_nothing_against(self) -> None:
        grade = grade_practical(NITRATION, clean(K4_V=ItemMark("K4-V")), rule=RULE)
        assert grade.result.passed and not grade.result.veto


class TestBadMarks:
    def test_every_item_must_be_marked(self) -> None:
        marks = [m for m in clean() if m.item not in ("K3-2", "K4-V")]
        with pytest.raises(InvalidMarks) as caught:
            grade_practical(NITRATION, marks, rule=RULE)
        assert caught.value.code == "incomplete_marks"
        assert caught.value.details == {"missing": ["K3-2", "K4-V"]}

    @pytest.mark.parametrize(
        ("mark", "field"),
        [
            (ItemMark("K9-9"), "item"),
            (ItemMark("K1-1", (5,)), "deductions"),
            (ItemMark("K1-1", (-1,)), "deductions"),
            (ItemMark("K1-1", veto_failed=True), "veto_failed"),
            (ItemMark("K1-V", not_performed=True), "not_performed"),
        ],
    )
    def test_refused_naming_item_and_field(self, mark: ItemMark, field: str) -> None:
        marks = [m for m in clean() if m.item != mark.item] + [mark]
        with pytest.raises(InvalidMarks) as caught:
            grade_practical(NITRATION, marks, rule=RULE)
        assert caught.value.details == {"item": mark.item, "field": field}

    def test_an_item_marked_twice(self) -> None:
        with pytest.raises(InvalidMarks) as caught:
            grade_practical(NITRATION, [*clean(), ItemMark("K1-2")], rule=RULE)
        assert caught.value.details == {"item": "K1-2", "field": "item"}


class TestMarksFromTheConsole:
    def test_round_trip(self) -> None:
        mark = ItemMark("K3-1", (0, 0), veto_failed=False)
        assert ItemMark.from_dict(mark.to_dict()) == mark
        assert ItemMark.from_dict({"item": "K1-V", "veto_failed": True}) == ItemMark(
            "K1-V", veto_failed=True
        )

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"deductions": []}, "item"),
            ({"item": "K1-1", "deductions": [True]}, "deductions"),
            ({"item": "K1-1", "deductions": "0"}, "deductions"),
            ({"item": "K1-1", "veto_failed": "yes"}, "veto_failed"),
            ({"item": "K1-1", "score": 35}, "score"),
        ],
    )
    def test_malformed(self, data: dict[str, Any], field: str) -> None:
        with pytest.raises(InvalidMarks) as caught:
            ItemMark.from_dict(data)
        assert caught.value.details["field"] == field

    def test_result_to_dict(self) -> None:
        grade = grade_practical(
            NITRATION, clean(K4_V=ItemMark("K4-V", veto_failed=True)), rule=RULE
        )
        body = grade.to_dict()
        assert body["passed"] is False and body["score"] == "100.0"
        assert body["veto"][0]["item"] == "K4-V"
        assert len(body["items"]) == len(ITEMS)


@st.composite
def checklists(draw: st.DrawFn, bp: PracticalBlueprint = NITRATION) -> list[ItemMark]:
    marks = []
    for s in bp.subjects:
        for i in s.items:
            if i.veto:
                marks.append(ItemMark(i.code, veto_failed=draw(st.booleans())))
                continue
            deductions = draw(
                st.lists(st.integers(0, len(i.deductions) - 1), max_size=6)
                if i.deductions
                else st.just([])
            )
            marks.append(ItemMark(i.code, tuple(deductions), not_performed=draw(st.booleans())))
    return marks


class TestProperties:
    @given(checklists())
    @settings(max_examples=200)
    def test_score_within_0_and_100(self, marks: list[ItemMark]) -> None:
        result = grade_practical(NITRATION, marks, rule=RULE).result
        assert 0 <= result.exact <= 100

    @given(checklists())
    @settings(max_examples=200)
    def test_a_failed_veto_item_always_fails(self, marks: list[ItemMark]) -> None:
        result = grade_practical(NITRATION, marks, rule=RULE).result
        failed = {m.item for m in marks if m.veto_failed}
        assert {v.item for v in result.veto} == failed
        if failed:
            assert not result.passed
        else:
            assert result.passed == (result.exact >= 80)

    @given(checklists(), st.data())
    @settings(max_examples=200)
    def test_dropping_a_deduction_never_lowers_the_score(
        self, marks: list[ItemMark], data: st.DataObject
    ) -> None:
        with_deductions = [i for i, m in enumerate(marks) if m.deductions]
        if not with_deductions:
            return
        i = data.draw(st.sampled_from(with_deductions))
        before = grade_practical(NITRATION, marks, rule=RULE).result.exact
        lighter = list(marks)
        lighter[i] = ItemMark(marks[i].item, marks[i].deductions[1:], marks[i].not_performed)
        assert grade_practical(NITRATION, lighter, rule=RULE).result.exact >= before

    @pytest.mark.parametrize("code", ["CHLORINATION", "HYDROGENATION", "SULFONATION"])
    @given(data=st.data())
    @settings(max_examples=30)
    def test_every_shipped_checklist(self, code: str, data: st.DataObject) -> None:
        bp = blueprint(code)
        marks = data.draw(checklists(bp))
        result = grade_practical(bp, marks, rule=RULE).result
        assert 0 <= result.exact <= 100
        assert sum(b.earned for b in result.breakdown) == result.exact
