"""Device `result` frames scored into the common result shape: score/max, pass mark, veto steps."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curricula.model import Scenario
from scoring.device import normalise_device_result
from scoring.errors import InvalidDeviceResult
from tests.scoring.build import curriculum

RUNAWAY = curriculum().scenario("NITR-RUNAWAY")  # min_score 80 of max_score 100


def frame(**changed: Any) -> dict[str, Any]:
    """A result frame as the serial protocol has it (DESIGN.md), with some fields changed."""
    base: dict[str, Any] = {
        "t": "result",
        "v": 1,
        "dev": "VR-03",
        "boot": "1a2b3c4d",
        "seq": 17,
        "scenario": "NITR-RUNAWAY",
        "badge": "B0001234",
        "score": 87.5,
        "max": 100,
        "passed": True,
        "duration_s": 312,
        "errors": [],
        "veto": [],
        "ts": "2026-11-23T10:00:00+08:00",
    }
    base.update(changed)
    return {k: v for k, v in base.items() if v is not ...}


class TestNormalise:
    def test_a_pass(self) -> None:
        grade = normalise_device_result(frame(), RUNAWAY)
        assert grade.result.part == "device:NITR-RUNAWAY"
        assert grade.result.score == Decimal("87.5")
        assert grade.result.pass_mark == 80
        assert grade.result.passed
        assert grade.result.codes == ("passed",)
        assert RUNAWAY.title.zh in grade.result.reasons[0].zh
        assert (grade.badge, grade.ts, grade.duration_s) == (
            "B0001234",
            "2026-11-23T10:00:00+08:00",
            312,
        )

    def test_exactly_the_pass_mark_passes(self) -> None:
        assert normalise_device_result(frame(score=80), RUNAWAY).result.passed

    def test_just_below_fails(self) -> None:
        grade = normalise_device_result(frame(score=79.9, passed=False), RUNAWAY)
        assert not grade.result.passed
        assert grade.result.codes == ("below_pass_mark",)

    def test_the_devices_own_scale(self) -> None:
        grade = normalise_device_result(frame(score=17, max=20), RUNAWAY)
        assert grade.result.exact == 85
        assert (grade.raw_score, grade.raw_max) == (17, 20)
        grade = normalise_device_result(frame(score=31, max=40, passed=False), RUNAWAY)
        assert grade.result.score == Decimal("77.5") and not grade.result.passed

    def test_a_pass_mark_that_is_not_80(self) -> None:
        strict = RUNAWAY.model_copy(update={"min_score": 18, "max_score": 20})
        assert normalise_device_result(frame(score=90), strict).result.passed
        assert not normalise_device_result(frame(score=89.5), strict).result.passed

    def test_thirds(self) -> None:
        grade = normalise_device_result(frame(score=2, max=3, passed=False), RUNAWAY)
        assert grade.result.exact == Fraction(200, 3)
        assert grade.result.score == Decimal("66.6")


class TestVeto:
    def test_a_failed_veto_step_fails_a_high_score(self) -> None:
        grade = normalise_device_result(frame(score=95, passed=True, veto=[4]), RUNAWAY)
        assert not grade.result.passed
        [failure] = grade.result.veto
        assert failure.item == "4"
        assert failure.zh == f"第 4 步：{RUNAWAY.steps[3].zh}"
        assert grade.result.codes == ("veto_failed",)
        assert "whatever the score" in grade.result.reasons[0].en

    def test_a_veto_named_by_the_device(self) -> None:
        grade = normalise_device_result(frame(veto=["AGITATOR-RESTART"]), RUNAWAY)
        assert [v.item for v in grade.result.veto] == ["AGITATOR-RESTART"]
        assert not grade.result.passed

    def test_veto_and_below_the_mark_say_both(self) -> None:
        grade = normalise_device_result(frame(score=40, passed=False, veto=[2, 6]), RUNAWAY)
        assert grade.result.codes == ("veto_failed", "veto_failed", "below_pass_mark")

    @pytest.mark.parametrize("entry", [0, 9, "", True, {"step": 2}])
    def test_a_veto_entry_that_names_nothing(self, entry: object) -> None:
        with pytest.raises(InvalidDeviceResult) as caught:
            normalise_device_result(frame(veto=[entry]), RUNAWAY)
        assert caught.value.details == {"field": "veto"}


class TestDeviceVerdict:
    def test_the_device_saying_fail_is_believed(self) -> None:
        grade = normalise_device_result(frame(score=90, passed=False), RUNAWAY)
        assert not grade.result.passed
        assert grade.result.codes == ("device_reported_fail",)

    def test_the_device_saying_pass_below_the_mark_is_not(self) -> None:
        grade = normalise_device_result(frame(score=60, passed=True), RUNAWAY)
        assert not grade.result.passed
        assert grade.result.codes == ("below_pass_mark",)

    def test_a_camera_reading_without_passed_errors_or_veto(self) -> None:
        grade = normalise_device_result(
            frame(passed=..., errors=..., veto=..., duration_s=..., badge=...), RUNAWAY
        )
        assert grade.result.passed and grade.device_passed is None
        assert grade.errors == () and grade.result.veto == ()

    def test_errors_are_kept_as_text(self) -> None:
        grade = normalise_device_result(
            frame(errors=["late step 3", {"step": 5, "code": "E12"}]), RUNAWAY
        )
        assert grade.errors == ("late step 3", '{"code": "E12", "step": 5}')
        assert grade.to_dict()["errors"] == list(grade.errors)


class TestUnscorable:
    @pytest.mark.parametrize(
        ("changed", "field"),
        [
            ({"t": "hb"}, "t"),
            ({"score": ...}, "score"),
            ({"score": "87.5"}, "score"),
            ({"score": True}, "score"),
            ({"score": float("nan")}, "score"),
            ({"score": -1}, "score"),
            ({"score": 101}, "score"),
            ({"max": 0}, "max"),
            ({"passed": "yes"}, "passed"),
            ({"veto": "4"}, "veto"),
            ({"errors": "none"}, "errors"),
            ({"duration_s": -3}, "duration_s"),
            ({"badge": 12}, "badge"),
        ],
    )
    def test_refused_naming_the_field(self, changed: dict[str, Any], field: str) -> None:
        with pytest.raises(InvalidDeviceResult) as caught:
            normalise_device_result(frame(**changed), RUNAWAY)
        assert caught.value.details == {"field": field}

    def test_another_scenario(self) -> None:
        with pytest.raises(InvalidDeviceResult) as caught:
            normalise_device_result(frame(scenario="NITR-ACID-LEAK"), RUNAWAY)
        assert caught.value.code == "wrong_scenario"


scores = st.fractions(min_value=0, max_value=1).map(lambda f: float(f * 50))


class TestProperties:
    @given(score=scores, passed=st.none() | st.booleans(), veto=st.lists(st.integers(1, 8)))
    def test_within_0_and_100_and_veto_always_fails(
        self, score: float, passed: bool | None, veto: list[int]
    ) -> None:
        grade = normalise_device_result(
            frame(score=score, max=50, passed=passed if passed is not None else ..., veto=veto),
            RUNAWAY,
        )
        assert 0 <= grade.result.exact <= 100
        if veto:
            assert not grade.result.passed
        expected = grade.result.exact >= 80 and not veto and passed is not False
        assert grade.result.passed == expected

    @pytest.mark.parametrize("code", ["FALL-ARREST", "SHOCK-TOUCH", "MECH-PINCH"])
    def test_every_rig_scenario_of_injury_experience(self, code: str) -> None:
        scenario: Scenario = curriculum("INJURY-EXPERIENCE").scenario(code)
        grade = normalise_device_result(frame(scenario=code, score=scenario.min_score), scenario)
        assert grade.result.passed
