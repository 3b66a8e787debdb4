"""Exact scores and the recorded one-decimal score: rounded down, never a pass that is not one."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.numbers import exact, mark_text, recorded, text


class TestExact:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (2.5, Fraction(5, 2)),
            (0.1, Fraction(1, 10)),  # the decimal written, not the binary double
            (87.5, Fraction(175, 2)),
            (80, Fraction(80)),
            ("2.5", Fraction(5, 2)),
            (Decimal("79.95"), Fraction(1599, 20)),
            (1e-05, Fraction(1, 100000)),
        ],
    )
    def test_reads_the_decimal_the_author_wrote(self, value: object, expected: Fraction) -> None:
        assert exact(value) == expected  # type: ignore[arg-type]

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN")])
    def test_refuses_what_is_not_a_number(self, value: object) -> None:
        with pytest.raises(ValueError, match="finite"):
            exact(value)  # type: ignore[arg-type]

    def test_refuses_a_bool(self) -> None:
        with pytest.raises(TypeError):
            exact(True)

    def test_thirds_add_up(self) -> None:
        assert exact(100) / 3 * 3 == 100
        assert sum([exact(0.1)] * 10) == 1


class TestRecorded:
    @pytest.mark.parametrize(
        ("score", "shown"),
        [
            (Fraction(80), "80.0"),
            (Fraction(7996, 100), "79.9"),  # never up to a pass
            (Fraction(79999, 1000), "79.9"),
            (Fraction(200, 3), "66.6"),
            (Fraction(0), "0.0"),
            (Fraction(100), "100.0"),
        ],
    )
    def test_one_decimal_rounded_down(self, score: Fraction, shown: str) -> None:
        assert str(recorded(score)) == shown

    @given(st.fractions(min_value=0, max_value=100))
    def test_within_a_tenth_below(self, score: Fraction) -> None:
        shown = Fraction(recorded(score))
        assert shown <= score < shown + Fraction(1, 10)

    @given(
        score=st.fractions(min_value=0, max_value=100),
        mark=st.integers(0, 1000).map(lambda tenths: Fraction(tenths, 10)),
    )
    def test_recorded_and_exact_agree_on_every_pass_decision(
        self, score: Fraction, mark: Fraction
    ) -> None:
        assert (Fraction(recorded(score)) >= mark) == (score >= mark)


class TestText:
    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            (Fraction(80), "80"),
            (Fraction(5, 2), "2.5"),
            (Fraction(1, 3), "1/3"),
            (Fraction(1, 8), "0.125"),
        ],
    )
    def test_exact_and_short(self, value: Fraction, shown: str) -> None:
        assert text(value) == shown
        assert Fraction(text(value)) == value

    def test_mark_text_for_people(self) -> None:
        assert mark_text(Fraction(80)) == "80"
        assert mark_text(Fraction(200, 3)) == "66.6"
