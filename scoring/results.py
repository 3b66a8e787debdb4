"""The one result shape every scored attempt has: theory paper, practical checklist, device run.

A part is named by a key the server can store: `theory`, `practical`, or `device:<scenario>`
for a VR or rig scenario (scenario codes are upper case, so the keys never collide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from curricula.model import Text
from scoring.numbers import recorded, text
from scoring.reasons import Reason

THEORY = "theory"
PRACTICAL = "practical"
_DEVICE_PREFIX = "device:"


class PartKind(StrEnum):
    theory = "theory"
    practical = "practical"
    device = "device"


def device_part(scenario: str) -> str:
    """The part key of a VR or rig scenario."""
    return f"{_DEVICE_PREFIX}{scenario}"


def part_kind(part: str) -> PartKind:
    """The kind of a part key; raises ValueError for anything else."""
    if part == THEORY:
        return PartKind.theory
    if part == PRACTICAL:
        return PartKind.practical
    if part.startswith(_DEVICE_PREFIX) and len(part) > len(_DEVICE_PREFIX):
        return PartKind.device
    raise ValueError(f"a part is 'theory', 'practical' or 'device:<scenario>', not {part!r}")


def part_names(part: str, title: Text | None = None) -> tuple[str, str]:
    """How a trainee reads a part's name (zh, en)."""
    kind = part_kind(part)
    if kind is PartKind.theory:
        return "理论考试", "theory exam"
    if kind is PartKind.practical:
        return "实际操作考试", "practical exam"
    code = part.removeprefix(_DEVICE_PREFIX)
    if title is None:
        return f"设备考核 {code}", f"device assessment {code}"
    return f"考核项目「{title.zh}」", f"assessment “{title.en}”"


@dataclass(frozen=True)
class Breakdown:
    """One topic of a paper or one subject of a checklist: points earned of points available.

    Points are in the part's 100 (a subject weighted 40 has 40 possible), kept as integers of a
    common fraction of a point (`earned_units / scale`) so that a batch of papers builds its
    breakdowns without fraction arithmetic. Each line is rounded down on its own, so the shown
    lines may add up to a little less than the total (only with partial credit or fractional
    weights).
    """

    code: str
    title: Text
    earned_units: int
    possible_units: int
    scale: int
    correct: int | None = None  # questions fully right (theory only)
    count: int | None = None  # questions on the paper (theory only)

    @classmethod
    def of(cls, code: str, title: Text, earned: Fraction, possible: Fraction) -> Breakdown:
        scale = math.lcm(earned.denominator, possible.denominator)
        return cls(code, title, int(earned * scale), int(possible * scale), scale)

    @property
    def earned(self) -> Fraction:
        return Fraction(self.earned_units, self.scale)

    @property
    def possible(self) -> Fraction:
        return Fraction(self.possible_units, self.scale)

    @property
    def earned_points(self) -> Decimal:
        return Decimal(self.earned_units * 10 // self.scale).scaleb(-1)

    @property
    def percent(self) -> Decimal:
        """This line's own score out of 100."""
        if not self.possible_units:
            return Decimal("0.0")
        return Decimal(self.earned_units * 1000 // self.possible_units).scaleb(-1)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "title": {"zh": self.title.zh, "en": self.title.en},
            "earned": str(self.earned_points),
            "possible": text(self.possible),
            "percent": str(self.percent),
        }
        if self.count is not None:
            data["correct"] = self.correct
            data["count"] = self.count
        return data


@dataclass(frozen=True)
class VetoFailure:
    """A failed veto item (否决项): from a checklist (subject and item) or a device's veto list."""

    item: str  # checklist item code, or the device's veto entry
    zh: str
    en: str
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "item": self.item, "zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class PartResult:
    """A scored attempt: the score out of 100 (exact and as recorded), passed, and why."""

    part: str
    exact: Fraction
    pass_mark: Fraction
    passed: bool
    breakdown: tuple[Breakdown, ...]
    veto: tuple[VetoFailure, ...]
    reasons: tuple[Reason, ...]

    @property
    def kind(self) -> PartKind:
        return part_kind(self.part)

    @property
    def score(self) -> Decimal:
        """Out of 100, one decimal place, rounded down."""
        return recorded(self.exact)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "score": str(self.score),
            "exact": text(self.exact),
            "pass_mark": text(self.pass_mark),
            "passed": self.passed,
            "breakdown": [b.to_dict() for b in self.breakdown],
            "veto": [v.to_dict() for v in self.veto],
            "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in self.reasons],
        }
