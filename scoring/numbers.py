"""Exact score arithmetic: fractions while scoring, one decimal place rounded down on record.

Every score is computed as a `Fraction`, so 1/3 + 1/3 + 1/3 is 1 and no total drifts to
79.999…. Numbers from the data files and device frames (TOML and JSON floats such as 2.5 or
87.5) are read as the decimal their author wrote (`repr` of the float), not as the binary
approximation.

The recorded score is the exact score rounded *down* to one decimal place (79.96 → 79.9). With
a pass mark of at most one decimal place (the regulations use 80), rounding down makes the
recorded score and the exact score agree on every pass decision: a record never shows 80.0 for
a trainee who failed, nor 79.9 for one who passed. Pass decisions compare the exact score.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

Number = int | float | str | Decimal | Fraction

HUNDRED = Fraction(100)


def exact(value: Number) -> Fraction:
    """A number as an exact fraction; a float is taken as the decimal it prints as."""
    if isinstance(value, bool):
        raise TypeError("a score is a number, not a bool")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return Fraction(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return Fraction(value)
    return Fraction(value)


def recorded(score: Fraction) -> Decimal:
    """The score as recorded and shown: one decimal place, rounded down (never up to a pass)."""
    return Decimal(math.floor(score * 10)).scaleb(-1)


def text(value: Fraction) -> str:
    """Exact and short: `80`, `2.5`, `1/3` (a decimal when one exists, else a fraction)."""
    if value.denominator == 1:
        return str(value.numerator)
    d = value.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        digits = 0
        while (value * 10**digits).denominator != 1:
            digits += 1
        return f"{Decimal(value.numerator) / Decimal(value.denominator):.{digits}f}"
    return f"{value.numerator}/{value.denominator}"


def mark_text(value: Fraction) -> str:
    """A pass mark or a points value for people: `80`, `2.5`, or one decimal place."""
    rendered = text(value)
    return rendered if "/" not in rendered else str(recorded(value))
